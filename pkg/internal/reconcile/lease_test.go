package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// runLease keeps s's membership for connector court until the test ends
// (or stop is called: a graceful leave).
func runLease(t *testing.T, s *reconcile.Store, name string, hold time.Duration) (l *reconcile.Lease, stop func()) {
	t.Helper()
	l = s.Lease("court", name, hold, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return l, stop
}

// writes counts the writes to key from now on; call it to get the count
// so far, once the writes of interest are confirmed. It listens on the
// key's subject rather than watching the bucket, as a watch skips a value
// replaced before the server delivered it (the bucket keeps one per key).
// The test's own write to another key marks the end of those before it:
// one on key itself would move its revision, and the next compare-and-set
// on it would fail once.
func writes(t *testing.T, ctx context.Context, js jetstream.JetStream, key string) func() int {
	t.Helper()
	kv, err := js.KeyValue(ctx, reconcile.Bucket)
	require.NoError(t, err)
	msgs := make(chan *nats.Msg, 64)
	for _, k := range []string{key, "mark"} {
		sub, err := js.Conn().ChanSubscribe("$KV."+reconcile.Bucket+"."+k, msgs)
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	require.NoError(t, js.Conn().Flush())
	n := 0
	return func() int {
		_, err := kv.Put(ctx, "mark", nil)
		require.NoError(t, err)
		for {
			select {
			case m := <-msgs:
				if strings.HasSuffix(m.Subject, ".mark") {
					return n
				}
				n++
			case <-ctx.Done():
				t.Fatal("the mark never came")
			}
		}
	}
}

func deliver(t *testing.T, ctx context.Context, c interface {
	Acquire(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (reconcile.State, error)
	Release(ctx context.Context, connector, entity, v string, seq uint64, synced *reconcile.Synced) error
}, entity, v string, seq uint64) {
	t.Helper()
	_, err := c.Acquire(ctx, "court", entity, v, seq, time.Minute)
	require.NoError(t, err)
	require.NoError(t, c.Release(ctx, "court", entity, v, seq, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"v": v})}))
}

// An instance that runs alone sends alone: a versioned event costs its
// release's write only, and versions still only grow.
func TestAnInstanceAloneClaimsWithoutAWrite(t *testing.T) {
	stores, js, ctx := openStores(t, 1)
	l, _ := runLease(t, stores[0], "a", time.Minute)
	require.Eventually(t, alone(l), 5*time.Second, 10*time.Millisecond)
	count := writes(t, ctx, js, reconcile.Key("court", "wf-1"))
	for v := 1; v <= 5; v++ {
		deliver(t, ctx, l, "wf-1", string(rune('0'+v)), uint64(v))
	}
	require.Equal(t, 5, count(), "one write per version: the release")
	_, err := l.Acquire(ctx, "court", "wf-1", "6", 6, time.Minute)
	require.NoError(t, err)
	require.NoError(t, l.ReleaseAsync("court", "wf-1", "6", 6, nil).Wait(ctx))
	require.Equal(t, 5, count(), "a failed attempt alone writes nothing")
	deliver(t, ctx, l, "wf-1", "6", 6)
	require.Equal(t, 6, count(), "and its retry is sent")
	_, err = l.Acquire(ctx, "court", "wf-1", "7", 7, time.Minute)
	require.NoError(t, err)
	_, err = l.Renew(ctx, "court", "wf-1", "7", 7, time.Minute, false)
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx, "court", "wf-1", "7", 7, &reconcile.Synced{}))
	require.Equal(t, 7, count(), "alone, a renewal writes nothing either")

	_, err = l.Acquire(ctx, "court", "wf-2", "3", 10, time.Minute)
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx, "court", "wf-2", "3", 10, &reconcile.Synced{}))
	_, err = l.Acquire(ctx, "court", "wf-2", "2", 11, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded)
}

// A second instance waits until the one sending alone has stepped down,
// which it does only once its claimless deliveries are recorded; from
// then on both claim, and the second sees what the first delivered.
func TestASecondInstanceWaitsUntilTheOneAloneStepsDown(t *testing.T) {
	stores, js, ctx := openStores(t, 2)
	a, _ := runLease(t, stores[0], "a", time.Minute)
	require.Eventually(t, alone(a), 5*time.Second, 10*time.Millisecond)
	_, err := a.Acquire(ctx, "court", "wf-1", "2", 2, time.Minute) // under way: no write
	require.NoError(t, err)

	b, _ := runLease(t, stores[1], "b", time.Minute)
	claimed := make(chan error, 1)
	go func() {
		_, err := b.Acquire(ctx, "court", "wf-1", "3", 3, time.Minute)
		claimed <- err
	}()
	require.Eventually(t, func() bool { return !alone(a)() }, 5*time.Second, 10*time.Millisecond, "a stops sending alone once it sees b")
	select {
	case err := <-claimed:
		t.Fatalf("b claimed while a's delivery was under way: %v", err)
	default:
	}
	require.Equal(t, "a", holder(t, ctx, js), "a steps down only once its delivery is recorded")

	require.NoError(t, a.Release(ctx, "court", "wf-1", "2", 2, &reconcile.Synced{}))
	require.NoError(t, <-claimed)
	st, err := stores[1].Recall(ctx, "court", "wf-1")
	require.NoError(t, err)
	require.Equal(t, "2", st.Version, "b claimed after a's delivery was recorded")
	require.Equal(t, uint64(3), st.Claim.Seq, "b's claim is written")
	require.Empty(t, holder(t, ctx, js))
	require.Equal(t, "claims", b.State())
}

// An instance that left sends alone no more; one that vanished while
// sending alone is taken over only after its deliveries could have ended.
func TestTheOneAloneIsTakenOverWhenItLeavesOrItsDeliveriesCouldHaveEnded(t *testing.T) {
	stores, js, ctx := openStores(t, 2)
	a, stopA := runLease(t, stores[0], "a", time.Minute)
	require.Eventually(t, alone(a), 5*time.Second, 10*time.Millisecond)
	b, _ := runLease(t, stores[1], "b", time.Minute)
	require.Eventually(t, func() bool { return !alone(a)() && holder(t, ctx, js) == "" }, 5*time.Second, 10*time.Millisecond)
	stopA()
	require.Eventually(t, alone(b), 5*time.Second, 10*time.Millisecond, "a left: b runs alone")

	// A member that stopped renewing while sending alone, as a killed
	// instance does: its record stays, and with it the wait.
	stores2, js2, ctx2 := openStores(t, 1)
	const hold = 2 * time.Second
	until := time.Now().Add(500 * time.Millisecond)
	kv, err := js2.KeyValue(ctx2, reconcile.Bucket)
	require.NoError(t, err)
	rec, _ := json.Marshal(map[string]any{"holder": "gone", "members": map[string]time.Time{"gone": until}})
	_, err = kv.Put(ctx2, "_lease.court", rec)
	require.NoError(t, err)
	c, _ := runLease(t, stores2[0], "c", hold)
	_, err = c.Acquire(ctx2, "court", "wf-1", "1", 1, time.Minute)
	require.NoError(t, err)
	require.False(t, time.Now().Before(until.Add(hold)), "claimed before the vanished member's deliveries could have ended")
}

// An instance that cannot renew its membership claims nothing: after
// waiting a hold it says why.
func TestNoClaimWithoutAMembership(t *testing.T) {
	stores, _, ctx := openStores(t, 1)
	l := stores[0].Lease("court", "never-run", 200*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err := l.Acquire(ctx, "court", "wf-1", "1", 1, time.Minute)
	require.True(t, errors.Is(err, reconcile.ErrLeaseWait), "%v", err)
	require.Nil(t, l.AcquireAsync("court", "wf-1", "1", 1, time.Minute, false))
}

// alone says whether l sends alone now.
func alone(l *reconcile.Lease) func() bool {
	return func() bool { return l.State() == "alone" }
}

func holder(t *testing.T, ctx context.Context, js jetstream.JetStream) string {
	t.Helper()
	kv, err := js.KeyValue(ctx, reconcile.Bucket)
	require.NoError(t, err)
	e, err := kv.Get(ctx, "_lease.court")
	require.NoError(t, err)
	var rec struct{ Holder string }
	require.NoError(t, json.Unmarshal(e.Value(), &rec))
	if i := len(rec.Holder) - 9; i > 0 && rec.Holder[i] == '/' {
		return rec.Holder[:i] // the instance name, without the per-run suffix
	}
	return rec.Holder
}

// A claim renewed before its delivery holds for a whole hold again; one
// that lapsed and was overtaken by a newer version is superseded, so the
// older version is not sent after the newer one.
func TestRenewExtendsAClaimOrSaysItWasOvertaken(t *testing.T) {
	stores, _, ctx := openStores(t, 2)
	a, b := stores[0], stores[1]
	_, err := a.Acquire(ctx, "court", "wf-1", "5", 5, 300*time.Millisecond)
	require.NoError(t, err)
	st, err := a.Renew(ctx, "court", "wf-1", "5", 5, time.Minute, false)
	require.NoError(t, err)
	require.Empty(t, st.Version)
	seen, err := b.Recall(ctx, "court", "wf-1")
	require.NoError(t, err)
	require.True(t, seen.Claim.Until.After(time.Now().Add(30*time.Second)), "held a whole hold again: %v", seen.Claim)
	require.NoError(t, a.Release(ctx, "court", "wf-1", "5", 5, &reconcile.Synced{}))

	_, err = a.Acquire(ctx, "court", "wf-1", "6", 6, 300*time.Millisecond)
	require.NoError(t, err)
	deliver(t, ctx, b, "wf-1", "7", 7) // waits for a's claim to lapse, then sends 7
	_, err = a.Renew(ctx, "court", "wf-1", "6", 6, time.Minute, false)
	require.ErrorIs(t, err, reconcile.ErrSuperseded)
}

// A claim that waits (for another instance's claim, for the lease) says
// so every interval, so its event's message is not delivered again while
// it waits.
func TestAWaitingClaimKeepsItsEventAlive(t *testing.T) {
	stores, _, ctx := openStores(t, 2)
	a, b := stores[0], stores[1]
	_, err := a.Acquire(ctx, "court", "wf-1", "1", 1, 500*time.Millisecond) // never released: it lapses
	require.NoError(t, err)
	kept := 0
	_, err = b.Acquire(reconcile.WithKeepAlive(ctx, 50*time.Millisecond, func() { kept++ }), "court", "wf-1", "2", 2, time.Minute)
	require.NoError(t, err)
	require.GreaterOrEqual(t, kept, 5, "told every 50 ms while a's claim held for 500 ms")

	l := stores[0].Lease("clinic", "never-run", 300*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	kept = 0
	_, err = l.Acquire(reconcile.WithKeepAlive(ctx, 500*time.Millisecond, func() { kept++ }), "clinic", "wf-1", "1", 1, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrLeaseWait)
	require.GreaterOrEqual(t, kept, 5, "told while waiting for the lease")
}
