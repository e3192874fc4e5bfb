package synclog_test

import (
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
