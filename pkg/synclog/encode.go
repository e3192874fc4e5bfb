package synclog

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hms/extsync/pkg/internal/jsontext"
)

// appendRecord appends r as one line of JSON, byte for byte what
// encoding/json's Encoder writes for it (FuzzEncodeMatchesEncodingJSON
// holds the two together). Every delivery writes a record, so it is
// written field by field, without encoding/json's reflection, into a
// buffer Encode sizes once for the whole group.
func appendRecord(b []byte, r *Record) ([]byte, error) {
	if y := r.Time.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("sync log record: time %v: year outside [0,9999]", r.Time)
	}
	if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
		return b, fmt.Errorf("sync log record: duration %v is not a number JSON can hold", r.DurationMS)
	}
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","connector":`...)
	b = jsontext.AppendString(b, r.Connector)
	b = append(b, `,"event_id":`...)
	b = jsontext.AppendString(b, r.EventID)
	b = append(b, `,"subject":`...)
	b = jsontext.AppendString(b, r.Subject)
	b = append(b, `,"stream_seq":`...)
	b = strconv.AppendUint(b, r.StreamSeq, 10)
	b = optString(b, `,"entity":`, r.Entity)
	b = optString(b, `,"version":`, r.Version)
	b = optString(b, `,"operation":`, r.Operation)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = append(b, `,"outcome":`...)
	b = jsontext.AppendString(b, r.Outcome)
	b = optInt(b, `,"status":`, int64(r.Status))
	b = optString(b, `,"error":`, r.Error)
	b = append(b, `,"duration_ms":`...)
	b = jsontext.AppendFloat(b, r.DurationMS)
	b = optInt(b, `,"retry_in_ms":`, r.RetryInMS)
	b = optString(b, `,"trace_id":`, r.TraceID)
	b = optString(b, `,"mapping_version":`, r.MappingVersion)
	if r.ReplayOf != 0 {
		b = append(b, `,"replay_of":`...)
		b = strconv.AppendUint(b, r.ReplayOf, 10)
	}
	b = optString(b, `,"actor":`, r.Actor)
	b = optString(b, `,"action":`, r.Action)
	b = optInt(b, `,"count":`, int64(r.Count))
	return append(b, "}\n"...), nil
}

// optString and optInt write an omitempty field.
func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return jsontext.AppendString(append(b, key...), s)
}

func optInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), n, 10)
}
