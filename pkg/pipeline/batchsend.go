package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/batch"
	"github.com/hms/extsync/pkg/policy"
	"go.opentelemetry.io/otel/trace"
)

// send delivers one batch as a unit, retrying it whole with backoff while
// its messages are kept alive, and settles each message by the outcome.
func (b *batcher) send(ctx context.Context, items []batch.Item[*job]) {
	r := b.r
	jobs := make([]*job, len(items))
	ds := make([]*connectors.Delivery, len(items))
	for i, it := range items {
		j := it.Value
		jobs[i] = j
		ds[i] = &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt}
	}
	b.update(func(s *BatchStatus) { s.Sending = len(jobs) })
	defer b.update(func(s *BatchStatus) { s.Sending = 0 })
	stopKeepalive := b.keepAlive(jobs)
	defer stopKeepalive()
	base := context.WithoutCancel(ctx) // a batch under way finishes on shutdown
	for attempt := 1; ; attempt++ {
		// A Retry-After or a throttled rate holds the bulk request too;
		// keepAlive already keeps its messages ours meanwhile.
		_ = r.guard.Pace(base, func() {}, time.Minute)
		start := time.Now()
		_, span := r.startBatchSpan(jobs, attempt)
		dctx, cancel := context.WithTimeout(trace.ContextWithSpan(base, span), r.conn.Timeout())
		err := b.bc.DeliverBatch(dctx, ds)
		cancel()
		endBatchSpan(span, err)
		b.record(base, err)
		took := time.Since(start)
		base := trace.ContextWithSpan(base, span) // its records carry the batch's trace id
		d := r.policy.Decide(err, attempt)
		var be *connectors.BatchError
		switch {
		case err == nil || errors.As(err, &be):
			b.settleItems(base, jobs, be, took)
			b.finished(len(jobs), err)
			return
		case d.Action == policy.Retry && ctx.Err() == nil:
			hold := policy.Decision{Action: policy.Hold, Outcome: policy.OutcomeRetry, Delay: d.Delay}
			for _, j := range jobs {
				r.settleAs(base, j, err, hold, took)
				r.countOutcome(base, hold)
			}
			r.log.Warn("batch failed, will send it again", "events", len(jobs), "attempt", attempt, "retry_in", d.Delay, "err", err)
			select {
			case <-b.clock.After(d.Delay):
				continue
			case <-ctx.Done():
				err = fmt.Errorf("%w: %w", errShutdown, err)
			}
		}
		if d.Action == policy.Retry { // shutting down: hand the batch back
			for _, j := range jobs {
				_ = j.msg.Nak()
			}
		} else {
			for _, j := range jobs {
				r.settleAs(base, j, err, d, took)
				r.countOutcome(base, d)
			}
		}
		b.finished(len(jobs), err)
		return
	}
}

// settleItems acks the accepted items and settles each refused one by
// its own error (a permanent refusal parks that item alone).
func (b *batcher) settleItems(ctx context.Context, jobs []*job, be *connectors.BatchError, took time.Duration) {
	delivered := policy.Decision{Action: policy.Ack, Outcome: policy.OutcomeDelivered}
	for i, j := range jobs {
		if be != nil {
			if err := be.Failed[i]; err != nil {
				b.r.countOutcome(ctx, b.r.settle(ctx, j, err, took))
				continue
			}
		}
		b.r.settleAs(ctx, j, nil, delivered, took)
		b.r.countOutcome(ctx, delivered)
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
	t := time.NewTicker(max(b.r.ackWait/3, time.Second))
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
