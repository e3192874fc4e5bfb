package deadletter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
)

func setup(t *testing.T) (context.Context, jetstream.JetStream) {
	t.Helper()
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, js
}

// park stores a dead letter for connector with event id "<connector>-<seq>".
func park(t *testing.T, ctx context.Context, js jetstream.JetStream, connector string, seq uint64, status, reason string) {
	t.Helper()
	now := time.Now()
	require.NoError(t, deadletter.NewParker(js).Park(ctx, &deadletter.Letter{
		Connector: connector, Subject: "hms.workflow.updated", Stream: "HMS_EVENTS", StreamSeq: seq,
		EventID: fmt.Sprintf("%s-%d", connector, seq), Attempts: 3, Reason: reason, Status: status,
		HTTPStatus: 400, FirstAttempt: now.Add(-time.Minute), LastAttempt: now,
		Body: []byte(`{"id":"wf-1"}`), Header: map[string][]string{"Nats-Msg-Id": {"orig"}},
	}))
}

func ids(entries []deadletter.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.EventID)
	}
	return out
}

func TestListFilters(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "court", 1, "permanent", "permanent (status 400): missing courtroom")
	park(t, ctx, js, "clinic", 2, "exhausted", "transient (status 503): Service Unavailable")
	park(t, ctx, js, "court", 3, "exhausted", "transient: connection refused")
	mid := time.Now()
	park(t, ctx, js, "court", 4, "permanent", "permanent (status 422): Bad Courtroom")

	for _, tc := range []struct {
		name string
		f    deadletter.Filter
		want []string
	}{
		{"all", deadletter.Filter{}, []string{"court-1", "clinic-2", "court-3", "court-4"}},
		{"connector", deadletter.Filter{Connector: "court"}, []string{"court-1", "court-3", "court-4"}},
		{"status", deadletter.Filter{Status: "exhausted"}, []string{"clinic-2", "court-3"}},
		{"reason, any case", deadletter.Filter{Reason: "COURTROOM"}, []string{"court-1", "court-4"}},
		{"event id and sequence", deadletter.Filter{IDs: []string{"clinic-2", "4"}}, []string{"clinic-2", "court-4"}},
		{"since", deadletter.Filter{Since: mid}, []string{"court-4"}},
		{"until", deadletter.Filter{Until: mid}, []string{"court-1", "clinic-2", "court-3"}},
		{"nothing", deadletter.Filter{Connector: "nobody"}, nil},
	} {
		got, err := deadletter.Collect(ctx, js, tc.f)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, ids(got), tc.name)
	}
	byID, err := deadletter.Collect(ctx, js, deadletter.Filter{IDs: []string{"1"}})
	require.NoError(t, err)
	require.Len(t, byID, 1)
	e := byID[0]
	require.Equal(t, 3, e.Attempts)
	require.Equal(t, 400, e.HTTPStatus)
	require.Equal(t, "orig", e.Header.Get(deadletter.HeaderOriginalMsgID))
}

func TestPurgeDeletesOnlyTheSelection(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "court", 1, "permanent", "a")
	park(t, ctx, js, "clinic", 2, "permanent", "b")
	gone, err := deadletter.Purge(ctx, js, deadletter.Filter{Connector: "court"})
	require.NoError(t, err)
	require.Equal(t, []string{"court-1"}, ids(gone))
	left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"clinic-2"}, ids(left))
}

func TestReplayToAConnectorThatDoesNotExistChangesNothing(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "gone", 1, "permanent", "a")
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	err = deadletter.CheckConnectors(ctx, js, entries)
	require.ErrorIs(t, err, deadletter.ErrNoConnector)
	require.ErrorContains(t, err, `connector "gone" has no replay consumer`)

	_, err = js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-gone-replay", FilterSubject: deadletter.ReplaySubjectPrefix + "gone", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	require.NoError(t, deadletter.CheckConnectors(ctx, js, entries), "once the connector runs again")
}

// Two operators replaying the same dead letters at once send each one
// once: the replay's message id is the dead letter's, deduplicated by the
// replay stream, and the second delete finds the letter already gone.
func TestConcurrentReplaysSendEachDeadLetterOnce(t *testing.T) {
	ctx, js := setup(t)
	const n = 300
	for i := range n {
		park(t, ctx, js, "court", uint64(i+1), "permanent", "a")
	}
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = deadletter.NewReplayer(js).Replay(ctx, deadletter.ReplayItems(entries, ""))
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Len(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), n, "each dead letter replayed once")
	left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Empty(t, left, "every replayed dead letter removed")
}

// BenchmarkReplay replays b.N dead letters: the pipelined publish-then-
// delete rate (events/s), as `extsync dlq replay` runs it.
func BenchmarkReplay(b *testing.B) {
	s := brokertest.RunServer(b)
	_, js := brokertest.Connect(b, s)
	brokertest.Provision(b, js)
	ctx := context.Background()
	parker := deadletter.NewParker(js)
	for i := range b.N {
		if err := parker.Park(ctx, &deadletter.Letter{Connector: "court", Stream: "HMS_EVENTS", StreamSeq: uint64(i + 1),
			EventID: fmt.Sprint(i), Body: make([]byte, 512)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{Connector: "court"})
	if err != nil {
		b.Fatal(err)
	}
	if n, err := deadletter.NewReplayer(js).Replay(ctx, deadletter.ReplayItems(entries, "")); err != nil || n != b.N {
		b.Fatalf("replayed %d of %d: %v", n, b.N, err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func TestReplayChecksTheLiveRegistryWhenThereIsOne(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "removed", 1, "permanent", "a")
	_, err := js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-removed-replay", FilterSubject: deadletter.ReplaySubjectPrefix + "removed", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err, "the consumer outlives the connector (rm keeps its position)")
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "extsync_connectors"})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "court", []byte("connectors: []"))
	require.NoError(t, err)

	n, err := deadletter.ReplaySelected(ctx, js, deadletter.Action{Filter: deadletter.Filter{Connector: "removed"}, Actor: "t"})
	require.ErrorIs(t, err, deadletter.ErrNoConnector)
	require.ErrorContains(t, err, `connector "removed" is not in the registry`)
	require.Zero(t, n)
	require.Len(t, brokertest.Messages(t, js, deadletter.Stream, ""), 1, "the dead letter stays")
	require.Empty(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), "nothing was sent")
}
