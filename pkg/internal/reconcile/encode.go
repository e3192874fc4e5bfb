package reconcile

import (
	"strconv"
	"time"

	"github.com/hms/extsync/pkg/internal/jsontext"
)

// appendState appends st as encoding/json marshals it
// (TestEncodeStateMatchesEncodingJSON and FuzzEncodeState hold the two
// together). Every versioned delivery writes the state once or twice (a
// release, and a claim where other instances run the connector), so it
// is written without reflection; the record (Snapshot) is JSON text
// already and is copied as it is.
func appendState(b []byte, st *State) []byte {
	b = append(b, '{')
	n := len(b)
	b = optString(b, n, "version", st.Version)
	if st.Seq != 0 {
		b = strconv.AppendUint(field(b, n, "seq"), st.Seq, 10)
	}
	if c := st.Claim; c != nil {
		b = append(field(b, n, "claim"), `{"version":`...)
		b = jsontext.AppendString(b, c.Version)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, c.Seq, 10)
		b = append(b, `,"until":"`...)
		b = append(c.Until.AppendFormat(b, time.RFC3339Nano), `"}`...)
	}
	b = optString(b, n, "etag", st.ETag)
	if len(st.Snapshot) > 0 {
		b = append(field(b, n, "snapshot"), st.Snapshot...)
	}
	b = optString(b, n, "mapping", st.Mapping)
	if st.Drifted {
		b = append(field(b, n, "drifted"), "true"...)
	}
	if st.Deleted {
		b = append(field(b, n, "deleted"), "true"...)
	}
	return append(b, '}')
}

// field appends a field's name, after a comma unless it is the first
// (nothing written since the object began at n).
func field(b []byte, n int, name string) []byte {
	if len(b) > n {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

func optString(b []byte, n int, name, s string) []byte {
	if s == "" {
		return b
	}
	return jsontext.AppendString(field(b, n, name), s)
}
