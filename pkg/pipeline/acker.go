package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/synclog"
)

// pendingAck is an outcome whose message is settled once its sync log
// record is stored.
type pendingAck struct {
	j    *job
	d    policy.Decision
	err  error
	took time.Duration
	at   time.Time // when the worker settled it: the record's time
	// spanCtx holds the attempt's (or the batch's) span, whose trace id
	// the record carries; span, when set, is the attempt's own, which
	// account ends.
	spanCtx context.Context
	span    trace.Span
	rec     *synclog.Record // built by account, in the acker
}

// logGroup is one sync log message on its way to JetStream and the
// outcomes it records.
type logGroup struct {
	fut      jetstream.PubAckFuture
	items    []pendingAck
	deadline time.Time
}

// Bounds of one group: the outcomes that finish within groupLinger of
// its first one (or while the last group was being written), up to a
// count and a size; more wait for the next group. The linger costs an
// outcome at most a millisecond before its ack, never before its
// delivery, and at one worker it turns one publish, PubAck, store write
// and ack flush per event into one per several.
const (
	maxGroupRecords = 256
	maxGroupBytes   = 256 << 10
	groupLinger     = time.Millisecond
)

// acker settles messages behind the workers, so neither the sync log's
// round trip nor its per-message cost is on the delivery path. The
// batcher writes the outcomes waiting as one sync log message; the waiter
// waits for each message's PubAck and only then acks, naks or terminates
// the messages it records: "acked only after its outcome is durable".
type acker struct {
	r      *Runner
	queue  chan pendingAck
	groups chan logGroup
	done   chan struct{}
}

func newAcker(r *Runner, capacity int) *acker {
	a := &acker{
		r:      r,
		queue:  make(chan pendingAck, capacity),
		groups: make(chan logGroup, 64),
		done:   make(chan struct{}),
	}
	go a.batch()
	go a.wait()
	return a
}

// add blocks when the queue is full: the broker is slower than the
// workers, and they should wait for it rather than pile up records.
func (a *acker) add(p pendingAck) { a.queue <- p }

// stop settles everything handed over so far, then returns. Call it once
// no worker can add any more.
func (a *acker) stop() {
	close(a.queue)
	<-a.done
}

func (a *acker) batch() {
	defer close(a.groups)
	recs := make([]*synclog.Record, 0, maxGroupRecords)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for first := range a.queue {
		// Sleep through the linger rather than wait on the queue: a
		// goroutine waiting on a channel is woken by every send, and at
		// one worker that was a wake-up (and often a futex call by the
		// worker) per delivery. Outcomes that arrive meanwhile wait in
		// the queue's buffer and are taken below.
		linger.Reset(groupLinger)
		<-linger.C
		a.r.account(&first)
		items := a.take(first)
		recs = recs[:0]
		for _, p := range items {
			recs = append(recs, p.rec)
		}
		fut, err := a.r.synclog.AppendAsync(recs)
		if err != nil {
			a.r.log.Error("sync log not written; its events will be redelivered", "events", len(items), "err", err)
			continue
		}
		a.groups <- logGroup{fut: fut, items: items, deadline: time.Now().Add(settleTimeout)}
	}
}

// take groups first (accounted) with the outcomes waiting in the queue,
// up to a group's bounds, without waiting for more.
func (a *acker) take(first pendingAck) []pendingAck {
	items := []pendingAck{first}
	size := approxRecordBytes(first.rec)
	for len(items) < maxGroupRecords && size < maxGroupBytes {
		select {
		case p, ok := <-a.queue:
			if !ok {
				return items
			}
			a.r.account(&p)
			items = append(items, p)
			size += approxRecordBytes(p.rec)
		default:
			return items
		}
	}
	return items
}

func approxRecordBytes(r *synclog.Record) int {
	return 256 + len(r.Error) + len(r.EventID) + len(r.Entity) + len(r.Subject)
}

func (a *acker) wait() {
	defer close(a.done)
	timer := time.NewTimer(settleTimeout)
	defer timer.Stop()
	for g := range a.groups {
		timer.Reset(max(time.Until(g.deadline), time.Millisecond))
		select {
		case <-g.fut.Ok():
			for _, p := range g.items {
				a.r.finish(p)
			}
		case err := <-g.fut.Err():
			a.r.log.Error("sync log not written; its events will be redelivered", "events", len(g.items), "err", err)
		case <-timer.C:
			a.r.log.Error("sync log not confirmed in time; its events will be redelivered",
				"events", len(g.items), "timeout", settleTimeout)
		}
	}
}

// finish acks, naks or terminates a message whose record is stored.
func (r *Runner) finish(p pendingAck) {
	ctx, j, d, rec := context.Background(), p.j, p.d, p.rec
	var aerr error
	switch d.Action {
	case policy.Ack:
		if j.attempt > 1 {
			r.firsts.forget(rec.StreamSeq)
		}
		aerr = j.msg.Ack()
		if r.log.Enabled(ctx, slog.LevelDebug) {
			r.eventLog(rec).DebugContext(ctx, "delivered", "outcome", d.Outcome, "status", rec.Status, "ms", rec.DurationMS)
		}
	case policy.Retry:
		aerr = j.msg.NakWithDelay(d.Delay)
		r.eventLog(rec).WarnContext(ctx, "delivery failed, will retry", "status", rec.Status, "err", rec.Error, "retry_in", d.Delay)
	case policy.DeadLetter:
		if j.attempt > 1 {
			r.firsts.forget(rec.StreamSeq)
		}
		aerr = j.msg.TermWithReason("dead-lettered: " + d.Status)
		r.eventLog(rec).WarnContext(ctx, "dead-lettered", "status", d.Status, "err", rec.Error)
	}
	if aerr != nil {
		r.eventLog(rec).WarnContext(ctx, "ack not sent; the event will be redelivered and the repeat is harmless", "err", aerr)
	}
	r.observe(rec)
}
