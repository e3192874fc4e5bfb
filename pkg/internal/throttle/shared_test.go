package throttle

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
)

// replicas starts n throttles of one connector on one NATS server.
func startReplicas(t *testing.T, n int, p Params) []*Shared {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	kv, err := Open(context.Background(), js, 1)
	require.NoError(t, err)
	out := make([]*Shared, n)
	for i := range n {
		out[i] = New(kv, "court", string(rune('a'+i)), p, slog.Default())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); out[i].Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return out
}

func TestReplicasShareOneLimit(t *testing.T) {
	rs := startReplicas(t, 3, params)
	for _, r := range rs {
		require.Eventually(t, func() bool {
			shared, mine, n := r.Limit()
			return n == 3 && shared == 100 && mine > 33.3 && mine < 33.4
		}, 5*time.Second, 10*time.Millisecond, "each replica paces itself to a third")
	}

	// One replica is refused; all three slow down and wait out Retry-After.
	require.NoError(t, rs[0].Slow(context.Background(), 500*time.Millisecond))
	for _, r := range rs {
		require.Eventually(t, func() bool { shared, _, _ := r.Limit(); return shared < 60 }, 5*time.Second, 10*time.Millisecond)
	}
	rs[2].mu.Lock()
	until := rs[2].state.PauseUntil
	rs[2].mu.Unlock()
	require.NoError(t, rs[2].Wait(context.Background(), func() {}, time.Second))
	require.False(t, time.Now().Before(until), "no request before the Retry-After the system asked of another replica")
}

func TestTwoReplicasRefusedAtOnceDecreaseOnce(t *testing.T) {
	rs := startReplicas(t, 2, params)
	require.NoError(t, rs[0].Slow(context.Background(), 0))
	require.NoError(t, rs[1].Slow(context.Background(), 0)) // same overload, other replica
	for _, r := range rs {
		require.Eventually(t, func() bool { shared, _, _ := r.Limit(); return shared >= 50 && shared < 51 },
			5*time.Second, 10*time.Millisecond, "halved once, recovering")
	}
}

func TestAStoppedReplicaGivesItsShareBack(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	kv, err := Open(context.Background(), js, 1)
	require.NoError(t, err)
	a, b := New(kv, "court", "a", params, slog.Default()), New(kv, "court", "b", params, slog.Default())
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan struct{})
	go func() { defer close(doneA); a.Run(ctxA) }()
	ctxB, stopB := context.WithCancel(context.Background())
	doneB := make(chan struct{})
	go func() { defer close(doneB); b.Run(ctxB) }()
	t.Cleanup(func() { stopB(); <-doneB })
	require.Eventually(t, func() bool { _, _, n := b.Limit(); return n == 2 }, 5*time.Second, 10*time.Millisecond)
	stopA()
	<-doneA
	require.Eventually(t, func() bool { _, mine, n := b.Limit(); return n == 1 && mine == 100 }, 5*time.Second, 10*time.Millisecond)
}

func TestReadSeesTheSharedRateAndReplicas(t *testing.T) {
	rs := startReplicas(t, 2, params)
	require.NoError(t, rs[0].Slow(context.Background(), 0))
	require.Eventually(t, func() bool {
		rate, n, err := Read(context.Background(), rs[1].kv, "court", params)
		return err == nil && n == 2 && rate >= 50 && rate < 60
	}, 5*time.Second, 10*time.Millisecond)
}
