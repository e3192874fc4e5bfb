package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/batch"
	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/reconcile"
)

// send delivers one batch as a unit, retrying it whole with backoff while
// its messages are kept alive, and settles each message by the outcome.
// With ordering on, each attempt first claims its events' entities, as
// a realtime delivery does, so a batch never sends an older version
// after a newer one was confirmed, by this instance or another.
func (b *batcher) send(ctx context.Context, items []batch.Item[*job]) {
	r := b.r
	jobs := make([]*job, len(items))
	for i, it := range items {
		jobs[i] = it.Value
	}
	b.update(func(s *BatchStatus) { s.Sending = len(jobs) })
	defer b.update(func(s *BatchStatus) { s.Sending = 0 })
	stopKeepalive := b.keepAlive(jobs)
	defer stopKeepalive()
	base := context.WithoutCancel(ctx) // a batch under way finishes on shutdown
	for attempt := 1; ; attempt++ {
		var err error
		if jobs, err = b.claimAll(base, jobs); err == nil && len(jobs) == 0 {
			b.finished(0, nil)
			return
		}
		start := time.Now()
		spanCtx := base
		if err == nil {
			spanCtx, err = b.deliver(base, jobs, attempt)
		}
		took := time.Since(start)
		d := r.settler.policy.DecideBatch(err, attempt, ctx.Err() != nil)
		var be *connectors.BatchError
		switch {
		case err == nil || errors.As(err, &be):
			b.settleItems(spanCtx, jobs, be, took)
		case d.Action == policy.Hold:
			b.settleAll(spanCtx, jobs, err, d, took)
			r.settler.obs.log.Warn("batch failed, will send it again", "events", len(jobs), "attempt", attempt, "retry_in", d.Delay, "err", err)
			select {
			case <-b.clock.After(d.Delay):
				continue
			case <-ctx.Done():
				err = fmt.Errorf("%w: %w", errShutdown, err)
				b.settleAll(spanCtx, jobs, err, r.settler.policy.DecideBatch(err, attempt, true), took)
			}
		default:
			b.settleAll(spanCtx, jobs, err, d, took)
		}
		b.finished(len(jobs), err)
		return
	}
}

// deliver sends jobs once, under a batch span, and releases their claims;
// the returned context carries the span for the records.
func (b *batcher) deliver(ctx context.Context, jobs []*job, attempt int) (context.Context, error) {
	r := b.r
	// A Retry-After or a throttled rate holds the bulk request too;
	// keepAlive keeps its messages ours meanwhile.
	_ = r.guard.Pace(ctx, func() {}, time.Minute)
	ds := make([]*connectors.Delivery, len(jobs))
	for i, j := range jobs {
		ds[i] = &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt}
	}
	_, span := r.settler.obs.startBatchSpan(jobs, attempt)
	dctx, cancel := context.WithTimeout(trace.ContextWithSpan(ctx, span), r.conn.Timeout())
	err := b.bc.DeliverBatch(dctx, ds)
	cancel()
	endBatchSpan(span, err)
	b.record(ctx, err)
	b.releaseAll(ctx, jobs, err)
	return trace.ContextWithSpan(ctx, span), err
}

// claimAll claims the entity of every job that takes part in ordering.
// Jobs whose version is stale are settled as superseded and dropped; if
// a claim cannot be made, the claims made are released and the error is
// the attempt's.
func (b *batcher) claimAll(ctx context.Context, jobs []*job) ([]*job, error) {
	if b.order == nil {
		return jobs, nil
	}
	kept := jobs[:0:0]
	for _, j := range jobs {
		if !b.order.applies(j) {
			kept = append(kept, j)
			continue
		}
		err := b.order.claim(ctx, j)
		switch {
		case err == nil:
			kept = append(kept, j)
		case errors.Is(err, reconcile.ErrSuperseded): // a newer version was delivered meanwhile
			b.r.settler.settle(outcome{j: j, err: err, spanCtx: ctx})
		default:
			b.releaseAll(ctx, kept, err)
			return jobs, err
		}
	}
	return kept, nil
}

// releaseAll ends the claims of jobs after an attempt that ended with
// err, recording as delivered the items the system accepted.
func (b *batcher) releaseAll(ctx context.Context, jobs []*job, err error) {
	if b.order == nil {
		return
	}
	var be *connectors.BatchError
	partial := errors.As(err, &be)
	for i, j := range jobs {
		if b.order.applies(j) {
			b.order.release(ctx, j, err == nil || (partial && be.Failed[i] == nil))
		}
	}
}

// settleItems settles each job by its own result: accepted, or refused
// with the error the system gave that item.
func (b *batcher) settleItems(ctx context.Context, jobs []*job, be *connectors.BatchError, took time.Duration) {
	for i, j := range jobs {
		var err error
		if be != nil {
			err = be.Failed[i]
		}
		b.r.settler.settle(outcome{j: j, err: err, took: took, spanCtx: ctx})
	}
}

// settleAll settles every job with the batch's decision.
func (b *batcher) settleAll(ctx context.Context, jobs []*job, err error, d policy.Decision, took time.Duration) {
	for _, j := range jobs {
		b.r.settler.settle(outcome{j: j, err: err, d: d, took: took, spanCtx: ctx})
	}
}

func (b *batcher) finished(n int, err error) {
	result := "delivered"
	var be *connectors.BatchError
	switch {
	case errors.As(err, &be):
		result = fmt.Sprintf("delivered; %d items refused", len(be.Failed))
	case err != nil:
		result = "failed: " + connectors.AsDeliveryError(err).Error()
	}
	b.update(func(s *BatchStatus) { s.LastRun, s.LastResult, s.LastEvents = b.clock.Now(), result, n })
}

// keepAlive tells JetStream the batch's messages are being worked on, so
// none is redelivered during a long send or backoff.
func (b *batcher) keepAlive(jobs []*job) (stop func()) {
	done := make(chan struct{})
	t := time.NewTicker(max(b.r.limits.ackWait/3, time.Second))
	go func() {
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, j := range jobs {
					_ = j.msg.InProgress()
				}
			}
		}
	}()
	return func() { close(done) }
}

// record tells the guard how the batch went: its health (a long outage
// makes the connector degraded), the throttle and the breaker. A bulk
// answer refusing some items means the system is up.
func (b *batcher) record(ctx context.Context, err error) {
	var be *connectors.BatchError
	if errors.As(err, &be) {
		err = nil
	}
	b.r.guard.Record(ctx, err)
}
