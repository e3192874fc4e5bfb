package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// stageJob is a decoded job for a real JetStream message with body.
func stageJob(t *testing.T, body string) *job {
	t.Helper()
	ctx := context.Background()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "ev.case", []byte(body))
	require.NoError(t, err)
	cons, err := js.CreateConsumer(ctx, "EV", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	d := &decoder{opts: event.Options{VersionPath: "version"}, maxBytes: 1 << 20,
		routes: &router{current: mapping.New(map[string]string{"name": "title"}), version: "v1"}}
	j, err := d.job(msg)
	require.NoError(t, err)
	return j
}

// recordNext is a fake next handler: it records the bodies it was given
// and answers with the errors queued, then nil.
type recordNext struct {
	bodies  []map[string]any
	ifMatch []string
	answers []error
}

func (n *recordNext) handle(_ context.Context, j *job) error {
	n.bodies = append(n.bodies, j.body)
	n.ifMatch = append(n.ifMatch, j.entity.ifMatch)
	if len(n.answers) == 0 {
		return nil
	}
	err := n.answers[0]
	n.answers = n.answers[1:]
	return err
}

func TestFailedStopsAJobTheReaderFailed(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1"`)
	next := &recordNext{}
	err := failed(next.handle)(context.Background(), j)
	require.Equal(t, connectors.Permanent, connectors.Classify(err))
	require.Empty(t, next.bodies, "nothing after it runs")
}

func TestMapStageMapsWithTheJobsRoute(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1","name":"Attorney Rotation"}`)
	next := &recordNext{}
	require.NoError(t, mapStage(next.handle)(context.Background(), j))
	require.Equal(t, []map[string]any{{"title": "Attorney Rotation"}}, next.bodies)
}

// fakeClaims is entity state held in memory, recording every call.
type fakeClaims struct {
	renewErr   error
	acquireErr error
	stale      bool
	state      reconcile.State // what Acquire and Recall find
	calls      []string
}

func (f *fakeClaims) Acquire(_ context.Context, _, entity, v string, _ uint64, _ time.Duration) (reconcile.State, error) {
	f.calls = append(f.calls, "acquire "+entity+"@"+v)
	st := f.state
	if st.ETag == "" {
		st.ETag = `"e1"`
	}
	return st, f.acquireErr
}

// AcquireAsync starts nothing: claims are taken by Acquire.
func (f *fakeClaims) AcquireAsync(string, string, string, uint64, time.Duration, bool) reconcile.Claiming {
	return nil
}

func (f *fakeClaims) AcquireRepair(ctx context.Context, c, entity, v string, seq uint64, hold time.Duration) (reconcile.State, error) {
	f.calls = append(f.calls, "again "+entity+"@"+v)
	return f.Acquire(ctx, c, entity, v, seq, hold)
}

func (f *fakeClaims) Renew(_ context.Context, _, entity, v string, _ uint64, _ time.Duration, _ bool) (reconcile.State, error) {
	f.calls = append(f.calls, "renew "+entity+"@"+v)
	return f.state, f.renewErr
}

func (f *fakeClaims) Recall(_ context.Context, _, entity string) (reconcile.State, error) {
	f.calls = append(f.calls, "recall "+entity)
	return f.state, nil
}

func (f *fakeClaims) Release(_ context.Context, _, entity, v string, _ uint64, synced *reconcile.Synced) error {
	f.calls = append(f.calls, fmt.Sprintf("release %s@%s delivered=%t", entity, v, synced != nil))
	return nil
}

func (f *fakeClaims) ReleaseAsync(_, entity, v string, _ uint64, synced *reconcile.Synced) reconcile.Pending {
	f.calls = append(f.calls, fmt.Sprintf("release-async %s@%s delivered=%t", entity, v, synced != nil))
	return confirmed{}
}

// confirmed is a write already confirmed.
type confirmed struct{}

func (confirmed) Wait(context.Context) error { return nil }

func (f *fakeClaims) Stale(context.Context, string, string, string, uint64) (bool, error) {
	return f.stale, nil
}

func newOrder(c entityClaims) *entityOrder {
	return &entityOrder{claims: c, connector: "court", hold: time.Minute, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ordered: true, skip: func(bool) bool { return false }}
}

func TestOrderStageClaimsAroundTheDeliveryAndLeavesTheReleaseToTheSettler(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1","version":3}`)
	j.entity.key = "wf-1"
	claims, next := &fakeClaims{}, &recordNext{}
	require.NoError(t, newOrder(claims).stage()(next.handle)(context.Background(), j))
	require.Equal(t, []string{"acquire wf-1@3"}, claims.calls)
	require.True(t, j.entity.pending, "the settler releases it with the outcome")
	require.Equal(t, []string{`"e1"`}, next.ifMatch, "the write is conditional on the last synced version")
}

// With the entity's next version waiting behind it here, the release is
// made at once, with the delivery's result.
func TestOrderStageReleasesAtOnceWhenTheEntityIsQueued(t *testing.T) {
	for _, tc := range []struct {
		answer    error
		delivered bool
	}{{nil, true}, {connectors.TransientError(503, errors.New("down")), false}} {
		j := stageJob(t, `{"id":"wf-1","version":3}`)
		j.entity.key = "wf-1"
		claims, next := &fakeClaims{}, &recordNext{answers: []error{tc.answer}}
		o := newOrder(claims)
		o.queued = func(string) bool { return true }
		err := o.stage()(next.handle)(context.Background(), j)
		require.Equal(t, tc.answer, err)
		require.Equal(t, []string{"acquire wf-1@3", fmt.Sprintf("release wf-1@3 delivered=%t", tc.delivered)}, claims.calls)
		require.False(t, j.entity.pending)
	}
}

func TestOrderStageSkipsAStaleVersionAndKeepsStateErrorsTransient(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1","version":3}`)
	j.entity.key = "wf-1"
	next := &recordNext{}
	err := newOrder(&fakeClaims{acquireErr: reconcile.ErrSuperseded}).stage()(next.handle)(context.Background(), j)
	require.ErrorIs(t, err, reconcile.ErrSuperseded)
	err = newOrder(&fakeClaims{acquireErr: errors.New("kv down")}).stage()(next.handle)(context.Background(), j)
	require.Equal(t, connectors.Transient, connectors.Classify(err))
	require.Empty(t, next.bodies, "neither is sent")

	unversioned := stageJob(t, `{"id":"wf-2"}`)
	claims := &fakeClaims{}
	require.NoError(t, newOrder(claims).stage()(next.handle)(context.Background(), unversioned))
	require.Empty(t, claims.calls, "an unversioned event keeps in-process order only")
}

// An event whose mapped record is the one the system last confirmed,
// under the same mapping, is not sent; a new mapping is a change.
func TestOrderStageSkipsAnUnchangedRecord(t *testing.T) {
	for _, tc := range []struct {
		mapping string
		skipped bool
	}{{"v1", true}, {"v0", false}} {
		j := stageJob(t, `{"id":"wf-1","version":3,"name":"Rotation"}`)
		j.entity.key, j.body = "wf-1", map[string]any{"title": "Rotation"}
		claims := &fakeClaims{state: reconcile.State{Version: "2", Snapshot: reconcile.RecordJSON(map[string]any{"title": "Rotation"}), Mapping: tc.mapping}}
		o, next := newOrder(claims), &recordNext{}
		o.skip = func(bool) bool { return true }
		err := o.stage()(next.handle)(context.Background(), j)
		if tc.skipped {
			require.ErrorIs(t, err, reconcile.ErrUnchanged)
			require.Empty(t, next.bodies, "nothing is sent")
		} else {
			require.NoError(t, err)
			require.Len(t, next.bodies, 1, "mapped otherwise: sent")
		}
		require.True(t, j.entity.pending, "the version is recorded either way")
	}
}

// An unversioned event is compared with the state read now, never with
// one remembered, which another instance may have changed since.
func TestOrderStageReadsTheStateForAnUnversionedEventItMaySkip(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1","name":"Rotation"}`)
	j.entity.key, j.body = "wf-1", map[string]any{"title": "Rotation"}
	claims := &fakeClaims{state: reconcile.State{Snapshot: reconcile.RecordJSON(map[string]any{"title": "Rotation"}), Mapping: "v1"}}
	o, next := newOrder(claims), &recordNext{}
	o.keep, o.skip = true, func(bool) bool { return true }
	require.ErrorIs(t, o.stage()(next.handle)(context.Background(), j), reconcile.ErrUnchanged)
	require.Equal(t, []string{"recall wf-1"}, claims.calls)

	drifted := &fakeClaims{state: reconcile.State{Snapshot: reconcile.RecordJSON(map[string]any{"title": "Rotation"}), Mapping: "v1", Drifted: true}}
	o.claims = drifted
	require.NoError(t, o.stage()(next.handle)(context.Background(), j), "verify found drift: sent again")
}

func TestStaleStageDropsAVersionAlreadySuperseded(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1","version":1}`)
	j.entity.key = "wf-1"
	next := &recordNext{}
	err := newOrder(&fakeClaims{stale: true}).staleStage()(next.handle)(context.Background(), j)
	require.ErrorIs(t, err, reconcile.ErrSuperseded)
	require.Empty(t, next.bodies)
}

// fakeRemote is an external record that a conflict rule reads.
type fakeRemote struct {
	body map[string]any
	etag string
}

func (r *fakeRemote) Fetch(context.Context, *connectors.Delivery) (map[string]any, string, error) {
	return r.body, r.etag, nil
}

// fakeParker keeps parked conflicts.
type fakeParker struct{ parked []*reconcile.Conflict }

func (p *fakeParker) Park(_ context.Context, c *reconcile.Conflict, _ uint64) error {
	p.parked = append(p.parked, c)
	return nil
}

func TestConflictStageMergesWithTheRemoteRecordAndSendsOverItsVersion(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1"}`)
	j.body = map[string]any{"a": 2.0, "b": 1.0}
	j.entity.last.Snapshot = reconcile.RecordJSON(map[string]any{"a": 1.0, "b": 1.0})
	remote := &fakeRemote{body: map[string]any{"a": 1.0, "b": 1.0, "note": "clerk"}, etag: `"r2"`}
	next := &recordNext{answers: []error{connectors.ConflictError(409, errors.New("overlap"))}}
	rule := config.Conflict{Strategy: config.ConflictMerge, MaxRounds: 3}
	require.NoError(t, conflictStage("court", rule, remote, &fakeParker{})(next.handle)(context.Background(), j))
	require.Len(t, next.bodies, 2, "sent again once")
	require.Equal(t, map[string]any{"a": 2.0, "b": 1.0, "note": "clerk"}, next.bodies[1], "ours and theirs")
	require.Equal(t, `"r2"`, next.ifMatch[1], "over the record's version")
}

func TestConflictStageParksForAPersonUnderManual(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1"}`)
	j.body = map[string]any{"a": 2.0}
	parker := &fakeParker{}
	next := &recordNext{answers: []error{connectors.ConflictError(409, errors.New("overlap"))}}
	rule := config.Conflict{Strategy: config.ConflictManual, MaxRounds: 3}
	err := conflictStage("court", rule, &fakeRemote{body: map[string]any{"a": 3.0}}, parker)(next.handle)(context.Background(), j)
	require.ErrorIs(t, err, reconcile.ErrConflictParked)
	require.Len(t, parker.parked, 1)
	require.Equal(t, map[string]any{"a": 3.0}, parker.parked[0].Remote)
	require.Len(t, next.bodies, 1, "not sent again")
}

func TestConflictStageLeavesRetryAndRemoteWinsToThePolicy(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1"}`)
	conflict := connectors.ConflictError(409, errors.New("overlap"))
	for _, s := range []string{config.ConflictRetry, config.ConflictRemoteWins} {
		next := &recordNext{answers: []error{conflict}}
		err := conflictStage("court", config.Conflict{Strategy: s, MaxRounds: 3}, &fakeRemote{}, &fakeParker{})(next.handle)(context.Background(), j)
		require.Equal(t, error(conflict), err)
		require.Len(t, next.bodies, 1)
	}
}

// slowConnector answers after its context ends, as a hung system would.
type slowConnector struct{ got *connectors.Delivery }

func (c *slowConnector) Deliver(ctx context.Context, d *connectors.Delivery) error {
	c.got = d
	<-ctx.Done()
	return ctx.Err()
}
func (c *slowConnector) Timeout() time.Duration { return 20 * time.Millisecond }
func (c *slowConnector) Close() error           { return nil }

func TestDeliverBoundsTheAttemptByTheConnectorsTimeout(t *testing.T) {
	j := stageJob(t, `{"id":"wf-1"}`)
	j.body, j.entity.ifMatch = map[string]any{"x": 1.0}, `"e1"`
	c := &slowConnector{}
	err := deliver(c)(context.Background(), j)
	require.Equal(t, connectors.Transient, connectors.Classify(err))
	require.ErrorContains(t, err, "did not finish within 20ms")
	require.Equal(t, `"e1"`, c.got.IfMatch)
	require.Equal(t, j.attempt, c.got.Attempt)
}

// A claim held back by the guard for a quarter of the hold is taken again
// before the delivery; one overtaken meanwhile is not sent.
func TestRenewStageRenewsAClaimTheGuardHeldBack(t *testing.T) {
	for _, tc := range []struct {
		age   time.Duration
		err   error
		calls []string
		sent  int
	}{
		{time.Second, nil, nil, 1},
		{20 * time.Second, nil, []string{"renew wf-1@3"}, 1},
		{20 * time.Second, reconcile.ErrSuperseded, []string{"renew wf-1@3"}, 0},
	} {
		j := stageJob(t, `{"id":"wf-1","version":3}`)
		j.entity.key, j.entity.claimed = "wf-1", time.Now().Add(-tc.age)
		claims, next := &fakeClaims{renewErr: tc.err}, &recordNext{}
		err := newOrder(claims).renewStage()(next.handle)(context.Background(), j)
		require.ErrorIs(t, err, tc.err)
		require.Equal(t, tc.calls, claims.calls, "claimed %s ago", tc.age)
		require.Len(t, next.bodies, tc.sent)
	}
}
