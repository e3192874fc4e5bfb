package synclog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/synclog"
)

func TestQueryFollowsOneEventAcrossGroupsAndConnectors(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := synclog.NewWriter(js)
	at := time.Now().UTC()
	add := func(recs ...*synclog.Record) {
		f, err := w.AppendAsync(recs)
		require.NoError(t, err)
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		}
	}
	add(&synclog.Record{Time: at, Connector: "court", EventID: "e1", Entity: "wf-1", Attempt: 1, Outcome: "retry", Status: 503},
		&synclog.Record{Time: at, Connector: "court", EventID: "e2", Entity: "wf-2", Attempt: 1, Outcome: "delivered", Status: 200})
	add(&synclog.Record{Time: at, Connector: "court", EventID: "e1", Entity: "wf-1", Attempt: 2, Outcome: "dead-lettered", Status: 400})
	add(&synclog.Record{Time: at, Connector: "clinic", EventID: "e1", Entity: "wf-1", Attempt: 1, Outcome: "delivered", Status: 200})
	require.NoError(t, synclog.Audit(ctx, js, "court", "cli:alice@host", "dlq replay", 1))
	add(&synclog.Record{Time: at, Connector: "court", EventID: "e1", Entity: "wf-1", Attempt: 1, Outcome: "delivered", Status: 200})

	query := func(f synclog.Filter) []string {
		var out []string
		require.NoError(t, synclog.Query(ctx, js, f, func(r synclog.Record) error {
			out = append(out, r.Connector+":"+r.EventID+":"+r.Outcome)
			return nil
		}))
		return out
	}
	require.Equal(t, []string{"court:e1:retry", "court:e1:dead-lettered", "clinic:e1:delivered", "court:e1:delivered"},
		query(synclog.Filter{EventID: "e1"}), "every attempt of the event, across connectors and replays")
	require.Equal(t, []string{"court:e1:retry", "court:e1:dead-lettered", "court:e1:delivered"},
		query(synclog.Filter{EventID: "e1", Connector: "court"}))
	require.Equal(t, []string{"court:e1:dead-lettered"}, query(synclog.Filter{Status: "400"}))
	require.Equal(t, []string{"court::admin"}, query(synclog.Filter{Status: "admin"}))
	require.Equal(t, []string{"court:e2:delivered"}, query(synclog.Filter{Entity: "wf-2"}))
	require.Empty(t, query(synclog.Filter{Since: at.Add(time.Hour)}))
}

// --follow: the records stored so far, then each new one as it is
// stored, filtered, until the reader stops.
func TestQueryFollowsNewRecordsUntilStopped(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := synclog.NewWriter(js)
	at := time.Now().UTC()
	require.NoError(t, w.Append(ctx, &synclog.Record{Time: at, Connector: "court", EventID: "e1", Outcome: "dead-lettered"}))

	fctx, stop := context.WithCancel(ctx)
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- synclog.Query(fctx, js, synclog.Filter{EventID: "e1", Follow: true}, func(r synclog.Record) error {
			got <- r.Outcome
			return nil
		})
	}()
	next := func() string {
		select {
		case o := <-got:
			return o
		case <-ctx.Done():
			t.Fatal("no record")
			return ""
		}
	}
	require.Equal(t, "dead-lettered", next())
	require.NoError(t, w.Append(ctx, &synclog.Record{Time: at, Connector: "court", EventID: "e2", Outcome: "delivered"}))
	require.NoError(t, w.Append(ctx, &synclog.Record{Time: at, Connector: "court", EventID: "e1", Outcome: "delivered", ReplayOf: 7}))
	require.Equal(t, "delivered", next(), "a new record of the event, the other event's skipped")
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Empty(t, got)
}
