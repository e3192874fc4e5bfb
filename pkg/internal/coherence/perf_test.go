//go:build perf

package coherence_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// TestVerifyThroughput verifies many entities (100,000 by default;
// VERIFY_ENTITIES sets it) against a local HTTP system, without a rate
// cap and with one, and reports entities/s and the heap. Run it with
//
//	go test -tags perf -run VerifyThroughput -v ./pkg/coherence
func TestVerifyThroughput(t *testing.T) {
	n := 100_000
	if s := os.Getenv("VERIFY_ENTITIES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(t)
	start := time.Now()
	pending := make([]reconcile.Pending, 0, 1024)
	for i := range n {
		id := fmt.Sprintf("wf-%d", i)
		snap := map[string]any{"case_id": id, "workflow_name": "Attorney Rotation", "courtroom": "4B"}
		pending = append(pending, e.states.ReleaseAsync("court", id, "1", uint64(i+1), &reconcile.Synced{Snapshot: reconcile.RecordJSON(snap)}))
		e.court.set(id, map[string]any{"case_id": id, "workflow_name": "Attorney Rotation", "courtroom": "4B"})
		if len(pending) == cap(pending) || i == n-1 {
			for _, p := range pending {
				require.NoError(t, p.Wait(e.ctx))
			}
			pending = pending[:0]
		}
	}
	t.Logf("%d entities stored in %s", n, time.Since(start).Round(time.Millisecond))
	for i := 0; i < n; i += n / 100 { // 1% drifted
		e.court.edit(fmt.Sprintf("wf-%d", i), "courtroom", "7A")
	}

	before := heap()
	peak, stop := peakHeap()
	c := e.checker()
	c.Workers = 8
	start = time.Now()
	res, err := c.Run(e.ctx, coherence.Selection{})
	took := time.Since(start)
	stop()
	require.NoError(t, err)
	require.Equal(t, n, res.Checked)
	require.Equal(t, 100, res.Drifted)
	after := heap()
	t.Logf("unlimited: %d entities in %s: %.0f entities/s; heap in use before %s, peak %s, after %s",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), mb(before), mb(peak.Load()), mb(after))

	c.Rate = 500
	start = time.Now()
	res, err = c.Run(e.ctx, coherence.Selection{Sample: 2})
	took = time.Since(start)
	require.NoError(t, err)
	t.Logf("--rate 500/s, --sample 2%%: %d entities in %s: %.0f entities/s", res.Checked+res.Failed,
		took.Round(time.Millisecond), float64(res.Checked)/took.Seconds())
	perSec := float64(res.Checked) / took.Seconds()
	require.LessOrEqual(t, perSec, 500*1.05, "the cap holds")
	require.GreaterOrEqual(t, perSec, 500*0.8, "and is reached")
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// peakHeap samples the heap in use every 50ms until stop.
func peakHeap() (*atomic.Uint64, func()) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return &peak, func() { close(done); <-finished }
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
