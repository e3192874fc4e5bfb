package pipeline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// worker runs jobs through the chain and settles each outcome. A runner
// starts `concurrency` goroutines of the same worker.
type worker struct {
	chain   handler
	settler *settler
	keys    *keyQueue // nil: ordering none
	// keep is how long a job may have waited before JetStream is told,
	// as it starts, that it is still being worked on.
	keep time.Duration
}

// run runs the jobs it is handed, each followed by those that queued
// behind it for the same entity (the feeder admitted it).
func (w *worker) run(ctx context.Context, jobs <-chan *job) {
	// Each attempt's timeout context registers with its parent; a parent
	// of the worker's own keeps that off the lock all workers would share.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for j := range jobs {
		for ; j != nil; j = w.after(j) {
			w.handle(ctx, j)
		}
	}
}

// after is the job that waited behind j for its entity, or nil (and the
// entity is free again).
func (w *worker) after(j *job) *job {
	if w.keys == nil || j.entity.key == "" {
		return nil
	}
	return w.keys.next(j.entity.key)
}

func (w *worker) handle(ctx context.Context, j *job) {
	j.release() // no longer waiting: what is in flight is bounded by the workers
	if ctx.Err() != nil {
		j.abandonClaim()
		_ = j.msg.Nak() // the drain timed out before this one started
		return
	}
	start := time.Now()
	j.keepAliveAfter(start, w.keep)
	j.life.started = start
	obs := w.settler.obs
	obs.stats.inFlight.Add(1)
	defer obs.stats.inFlight.Add(-1)
	spanCtx, span := obs.startSpan(j)
	// The span rides on the delivery context so the client span and the
	// traceparent sent to the external system are its children; cancelling
	// stays tied to ctx (the drain deadline).
	err := w.chain(trace.ContextWithSpan(ctx, span), j)
	j.abandonClaim()
	took := time.Since(start)
	w.settler.settle(outcome{j: j, err: err, took: took, at: start.Add(took), spanCtx: spanCtx, span: span})
}
