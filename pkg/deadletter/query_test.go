package deadletter_test

import (
	"context"
	"fmt"
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
	require.Equal(t, map[string]int{"court": 1}, gone)
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
	require.ErrorContains(t, err, `connector "removed" is not in the connector store`)
	require.Zero(t, n)
	require.Len(t, brokertest.Messages(t, js, deadletter.Stream, ""), 1, "the dead letter stays")
	require.Empty(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), "nothing was sent")
}

func TestAnIDThatNamesNoDeadLetterChangesNothing(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "court", 1, "permanent", "a")
	replayConsumer(t, ctx, js, "court")
	_, err := deadletter.Select(ctx, js, deadletter.Filter{IDs: []string{"court-1", "court-9"}})
	require.ErrorIs(t, err, deadletter.ErrNotFound)
	require.ErrorContains(t, err, `"court-9" matches; nothing was changed`)

	n, err := deadletter.ReplaySelected(ctx, js, deadletter.Action{Filter: deadletter.Filter{IDs: []string{"court-1", "court-9"}}})
	require.ErrorIs(t, err, deadletter.ErrNotFound)
	require.Zero(t, n)
	_, err = deadletter.PurgeSelected(ctx, js, deadletter.Action{Filter: deadletter.Filter{IDs: []string{"court-9"}}})
	require.ErrorIs(t, err, deadletter.ErrNotFound)
	require.Len(t, brokertest.Messages(t, js, deadletter.Stream, ""), 1, "the dead letter stays")
	require.Empty(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), "nothing was sent")
}

// A purge by status deletes letter by letter; a purge by connector alone
// removes its letters with one request, and neither touches a letter
// outside the selection.
func TestPurgeByStatusAndByConnector(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "court", 1, "permanent", "a")
	park(t, ctx, js, "court", 2, "exhausted", "b")
	park(t, ctx, js, "clinic", 3, "exhausted", "c")
	park(t, ctx, js, "court", 4, "exhausted", "d")
	gone, err := deadletter.Purge(ctx, js, deadletter.Filter{Connector: "court", Status: "exhausted"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"court": 2}, gone)
	left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"court-1", "clinic-3"}, ids(left))

	park(t, ctx, js, "court", 5, "exhausted", "e")
	n, err := deadletter.PurgeSelected(ctx, js, deadletter.Action{Filter: deadletter.Filter{Connector: "court"}, Actor: "cli:alice@ops"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	left, err = deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"clinic-3"}, ids(left))
	require.Equal(t, []string{"court:dlq purge:2:cli:alice@ops"}, audits(t, ctx, js))
}
