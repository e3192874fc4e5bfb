package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/internal/snapshot"
)

// snapshotPhase builds the snapshot of the preloaded backlog with a
// writer of its own, the pipeline idle: what keeping the snapshot costs
// per event (serve runs the writer beside the pipeline; the pipeline
// phase leaves it out so each is measured alone).
func (t *trial) snapshotPhase(ctx context.Context) error {
	nc, err := nats.Connect(t.svc.NATSURL(), nats.Name("extsync-bench-snapshot"))
	if err != nil {
		return fmt.Errorf("snapshot phase: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("snapshot phase: %w", err)
	}
	c, err := snapshot.Ensure(ctx, js, streamName, 1)
	if err != nil {
		return fmt.Errorf("snapshot phase: %w", err)
	}
	st, err := js.Stream(ctx, streamName)
	if err != nil {
		return fmt.Errorf("snapshot phase: %w", err)
	}
	last := st.CachedInfo().State.LastSeq // the preloaded backlog
	specs := snapshot.Specs(t.conns)
	w, err := snapshot.NewWriter(ctx, js, c, func() []snapshot.Spec { return specs }, t.o.Logger)
	if err != nil {
		return fmt.Errorf("snapshot phase: %w", err)
	}
	cpu0, natsCPU0 := cpuTime(), t.natsCPU()
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	err = writtenAll(ctx, c, last, 2*time.Minute)
	took := time.Since(start)
	cpu1, natsCPU1 := cpuTime(), t.natsCPU()
	stop()
	<-done
	if err != nil {
		return fmt.Errorf("snapshot phase: %w", err)
	}
	r := &t.res
	r.SnapshotSeconds = took.Seconds()
	r.SnapshotPerSec = float64(t.o.Events) / r.SnapshotSeconds
	r.SnapshotCPUMicros = perEvent(cpu0, cpu1, t.o.Events)
	r.SnapshotNATSCPUMicros = perEvent(natsCPU0, natsCPU1, t.o.Events)
	t.progress("snapshot writer %.0f ev/s, CPU %.0f µs/event (NATS %.0f)",
		r.SnapshotPerSec, r.SnapshotCPUMicros, r.SnapshotNATSCPUMicros)
	return nil
}

// writtenAll waits until the writer's consumer acked every event up to
// stream sequence n.
func writtenAll(ctx context.Context, c jetstream.Consumer, n uint64, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("writer consumer: %w", err)
		}
		if info.AckFloor.Stream >= n && info.NumAckPending == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d events written: %w", info.AckFloor.Stream, n, ctx.Err())
		}
	}
}
