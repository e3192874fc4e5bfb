package reconcile

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEncodeStateMatchesEncodingJSON(t *testing.T) {
	until := time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC)
	for name, st := range map[string]State{
		"empty":    {},
		"claim":    {Claim: &Claim{Seq: 7, Until: until}},
		"released": {Version: "3", Seq: 12, ETag: `W/"a<b>&c"`, Snapshot: RecordJSON(map[string]any{"t": "a<b>", "n": 1.5}), Mapping: "m1"},
		"all": {Version: "v\n\"2\"", Seq: 1, Claim: &Claim{Version: "v3 \u2028", Seq: 9, Until: until.In(time.FixedZone("x", 3600))},
			ETag: "e", Snapshot: RecordJSON(map[string]any{"id": "wf-1"}), Mapping: "m", Drifted: true, Deleted: true},
		"bad utf-8": {Version: "\xff\xfe", Mapping: "\x01"},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(st)
			require.NoError(t, err)
			require.Equal(t, string(want), string(appendState(nil, &st)))
		})
	}
}

func FuzzEncodeState(f *testing.F) {
	f.Add("3", uint64(12), "v4", uint64(13), int64(1700000000123456789), "etag", `{"a":"<b>"}`, "m1", true, false)
	f.Fuzz(func(t *testing.T, version string, seq uint64, claimVersion string, claimSeq uint64, until int64,
		etag, record, mapping string, drifted, deleted bool) {
		var m map[string]any
		if json.Unmarshal([]byte(record), &m) != nil {
			m = nil
		}
		st := State{Version: version, Seq: seq, ETag: etag, Snapshot: RecordJSON(m), Mapping: mapping,
			Drifted: drifted, Deleted: deleted}
		if claimSeq%2 == 1 {
			st.Claim = &Claim{Version: claimVersion, Seq: claimSeq, Until: time.Unix(0, until).UTC()}
		}
		want, err := json.Marshal(st)
		if err != nil {
			t.Skip() // a year encoding/json refuses
		}
		require.Equal(t, string(want), string(appendState(nil, &st)))
	})
}
