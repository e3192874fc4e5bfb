package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/internal/batch"
	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// send delivers one batch as a unit, retrying it whole with backoff while
// its messages are kept alive, and settles each message by the outcome.
// With ordering on, each attempt first claims its events' entities, as
// a realtime delivery does, so a batch never sends an older version
// after a newer one was confirmed, by this instance or another.
func (b *batcher) send(ctx context.Context, items []batch.Item[*job]) {
	s := &batchSend{b: b, jobs: make([]*job, len(items))}
	for i, it := range items {
		s.jobs[i] = it.Value
	}
	b.update(func(st *BatchStatus) { st.Sending = len(s.jobs) })
	defer b.update(func(st *BatchStatus) { st.Sending = 0 })
	stopKeepalive := s.keepAlive()
	defer stopKeepalive()
	s.run(ctx)
}

// batchSend is one batch under way: its events, sent together until
// the system takes them or the policy gives up.
type batchSend struct {
	b    *batcher
	jobs []*job
}

func (s *batchSend) run(ctx context.Context) {
	b, r, jobs := s.b, s.b.r, s.jobs
	base := context.WithoutCancel(ctx) // a batch under way finishes on shutdown
	for attempt := 1; ; attempt++ {
		var err error
		if jobs, err = s.claimAll(base, jobs); err == nil && len(jobs) == 0 {
			s.finished(0, nil)
			return
		}
		start := time.Now()
		spanCtx := base
		if err == nil {
			spanCtx, err = s.deliver(base, jobs, attempt)
		}
		took := time.Since(start)
		d := r.settler.policy.DecideBatch(err, attempt, ctx.Err() != nil)
		var be *connectors.BatchError
		switch {
		case err == nil || errors.As(err, &be):
			s.settleItems(spanCtx, jobs, be, took)
		case d.Action == policy.Hold:
			s.settleAll(spanCtx, jobs, err, d, took)
			r.settler.obs.log.Warn("batch failed, will send it again", "events", len(jobs), "attempt", attempt, "retry_in", d.Delay, "err", err)
			select {
			case <-b.clock.After(d.Delay):
				continue
			case <-ctx.Done():
				err = fmt.Errorf("%w: %w", errShutdown, err)
				s.settleAll(spanCtx, jobs, err, r.settler.policy.DecideBatch(err, attempt, true), took)
			}
		default:
			s.settleAll(spanCtx, jobs, err, d, took)
		}
		s.finished(len(jobs), err)
		return
	}
}

// deliver sends jobs once, under a batch span, and releases their claims;
// the returned context carries the span for the records.
func (s *batchSend) deliver(ctx context.Context, jobs []*job, attempt int) (context.Context, error) {
	b, r := s.b, s.b.r
	// A Retry-After or a throttled rate holds the bulk request too;
	// keepAlive keeps its messages ours meanwhile.
	_ = r.guard.Pace(ctx, func() {}, time.Minute)
	ds := make([]*connectors.Delivery, len(jobs))
	for i, j := range jobs {
		ds[i] = &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt, Delete: j.delete}
	}
	_, span := r.settler.obs.startBatchSpan(jobs, attempt)
	dctx, cancel := context.WithTimeout(trace.ContextWithSpan(ctx, span), r.conn.Timeout())
	err := b.bc.DeliverBatch(dctx, ds)
	cancel()
	endBatchSpan(span, err)
	s.record(ctx, err)
	s.releaseAll(ctx, jobs, err)
	return trace.ContextWithSpan(ctx, span), err
}

// claimAll claims the entity of every job that takes part in ordering.
// Jobs whose version is stale are settled as superseded and dropped; if
// a claim cannot be made, the claims made are released and the error is
// the attempt's.
func (s *batchSend) claimAll(ctx context.Context, jobs []*job) ([]*job, error) {
	b := s.b
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
			s.releaseAll(ctx, kept, err)
			return jobs, err
		}
	}
	return kept, nil
}

// releaseAll ends the claims of jobs after an attempt that ended with
// err, recording as delivered the items the system accepted.
func (s *batchSend) releaseAll(ctx context.Context, jobs []*job, err error) {
	b := s.b
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
func (s *batchSend) settleItems(ctx context.Context, jobs []*job, be *connectors.BatchError, took time.Duration) {
	for i, j := range jobs {
		var err error
		if be != nil {
			err = be.Failed[i]
		}
		s.b.r.settler.settle(outcome{j: j, err: err, took: took, spanCtx: ctx})
	}
}

// settleAll settles every job with the batch's decision.
func (s *batchSend) settleAll(ctx context.Context, jobs []*job, err error, d policy.Decision, took time.Duration) {
	for _, j := range jobs {
		s.b.r.settler.settle(outcome{j: j, err: err, d: d, took: took, spanCtx: ctx})
	}
}

func (s *batchSend) finished(n int, err error) {
	result := "delivered"
	var be *connectors.BatchError
	switch {
	case errors.As(err, &be):
		result = fmt.Sprintf("delivered; %d items refused", len(be.Failed))
	case err != nil:
		result = "failed: " + connectors.AsDeliveryError(err).Error()
	}
	s.b.update(func(st *BatchStatus) { st.LastRun, st.LastResult, st.LastEvents = s.b.clock.Now(), result, n })
}

// keepAlive tells JetStream the batch's messages are being worked on, so
// none is redelivered during a long send or backoff.
func (s *batchSend) keepAlive() (stop func()) {
	jobs := s.jobs
	done := make(chan struct{})
	t := time.NewTicker(max(s.b.r.limits.ackWait/3, time.Second))
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
func (s *batchSend) record(ctx context.Context, err error) {
	var be *connectors.BatchError
	if errors.As(err, &be) {
		err = nil
	}
	s.b.r.guard.Record(ctx, err)
}
