package synclog_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/synclog"
)

func TestEncodeDecodeKeepsEveryRecordOfAGroup(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 5, 15, 0, time.UTC)
	recs := []*synclog.Record{
		{Time: at, Connector: "court", EventID: "e1", Attempt: 1, Outcome: "delivered", Status: 200},
		{Time: at, Connector: "court", EventID: "e2", Attempt: 3, Outcome: "retry", Status: 503,
			Error: "transient (status 503): line one\nline two", RetryInMS: 4000},
	}
	data, err := synclog.Encode(recs)
	require.NoError(t, err)
	got, err := synclog.Decode(data)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, *recs[0], got[0])
	require.Equal(t, *recs[1], got[1], "a newline inside a field stays escaped inside its line")
}

func TestDecodeReadsASingleRecordMessage(t *testing.T) {
	got, err := synclog.Decode([]byte(`{"connector":"court","event_id":"e1","outcome":"delivered"}`))
	require.NoError(t, err)
	require.Equal(t, []synclog.Record{{Connector: "court", EventID: "e1", Outcome: "delivered"}}, got)
}

func TestDecodeNamesTheDamagedRecordAndKeepsThoseBefore(t *testing.T) {
	got, err := synclog.Decode([]byte("{\"event_id\":\"e1\"}\n{not json}\n"))
	require.ErrorContains(t, err, "sync log record 2")
	require.Len(t, got, 1)
}

// encodeJSON is what encoding/json's Encoder writes for recs, the format
// Encode keeps to.
func encodeJSON(t testing.TB, recs []*synclog.Record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		require.NoError(t, enc.Encode(r))
	}
	return buf.Bytes()
}

func TestEncodeWritesWhatEncodingJSONWrites(t *testing.T) {
	at := time.Date(2026, 11, 23, 2, 5, 15, 123456789, time.FixedZone("x", 3600))
	recs := []*synclog.Record{
		{Time: at, Connector: "court", EventID: "e1", Subject: "hms.workflow.updated", StreamSeq: 42,
			Attempt: 1, Outcome: "delivered", Status: 200, DurationMS: 0.0651, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{Time: at.UTC(), Connector: "court", EventID: "<e&2>", Entity: "case-7", Version: "12", Operation: "delete", Attempt: 3, Outcome: "retry",
			Status: 503, Error: "line one\nline two\t\"quoted\" \\ \x01 \x7f é \u2028 \xff", DurationMS: 1e-7,
			RetryInMS: 4000, MappingVersion: "m1", ReplayOf: 9, Actor: "ops", Action: "replay", Count: 2},
		{Connector: "court", DurationMS: 1e21},
	}
	got, err := synclog.Encode(recs)
	require.NoError(t, err)
	require.Equal(t, string(encodeJSON(t, recs)), string(got))
}

func TestEncodeRefusesWhatJSONCannotHold(t *testing.T) {
	_, err := synclog.Encode([]*synclog.Record{{DurationMS: math.NaN()}})
	require.ErrorContains(t, err, "duration")
	_, err = synclog.Encode([]*synclog.Record{{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	require.ErrorContains(t, err, "year")
}

func FuzzEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add("court", "e1", "boom\n<b>", int64(1700000000123456789), 12.5, uint64(7), 3, int64(-5))
	f.Add("\xff\xfe", "\u2029", "\x00\x1f", int64(0), 1e-9, uint64(0), 0, int64(0))
	f.Fuzz(func(t *testing.T, conn, id, msg string, nanos int64, ms float64, seq uint64, n int, retry int64) {
		if math.IsNaN(ms) || math.IsInf(ms, 0) {
			t.Skip()
		}
		r := &synclog.Record{Time: time.Unix(0, nanos).UTC(), Connector: conn, EventID: id, Subject: msg,
			StreamSeq: seq, Entity: msg, Version: id, Operation: msg, Attempt: n, Outcome: conn, Status: n, Error: msg,
			DurationMS: ms, RetryInMS: retry, TraceID: id, MappingVersion: conn, ReplayOf: seq,
			Actor: msg, Action: id, Count: n}
		got, err := synclog.Encode([]*synclog.Record{r})
		require.NoError(t, err)
		require.Equal(t, string(encodeJSON(t, []*synclog.Record{r})), string(got))
	})
}
