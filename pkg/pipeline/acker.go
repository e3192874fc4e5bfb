package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/synclog"
)

// pendingAck is an outcome whose sync log record is on its way to
// JetStream; its message is settled once the record is stored.
type pendingAck struct {
	fut      jetstream.PubAckFuture
	j        *job
	d        policy.Decision
	rec      *synclog.Record
	log      *slog.Logger
	deadline time.Time
}

// acker settles messages behind the workers. A worker hands over the
// record's publish future and moves on to the next delivery, so a sync
// log round trip is no longer on the delivery path; the acker waits for
// each future in turn and only then acks, naks or terminates, keeping
// "acked only after its outcome is durable".
type acker struct {
	r     *Runner
	queue chan pendingAck
	done  chan struct{}
}

func newAcker(r *Runner, capacity int) *acker {
	a := &acker{r: r, queue: make(chan pendingAck, capacity), done: make(chan struct{})}
	go a.run()
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

func (a *acker) run() {
	defer close(a.done)
	timer := time.NewTimer(settleTimeout)
	defer timer.Stop()
	for p := range a.queue {
		timer.Reset(max(time.Until(p.deadline), time.Millisecond))
		select {
		case <-p.fut.Ok():
			a.r.finish(p)
		case err := <-p.fut.Err():
			p.log.Error("sync log not written; the event will be redelivered", "err", err)
		case <-timer.C:
			p.log.Error("sync log not confirmed in time; the event will be redelivered", "timeout", settleTimeout)
		}
	}
}

// finish acks, naks or terminates a message whose record is stored.
func (r *Runner) finish(p pendingAck) {
	ctx, j, d, rec, log := context.Background(), p.j, p.d, p.rec, p.log
	var aerr error
	switch d.Action {
	case policy.Ack:
		r.firsts.forget(rec.StreamSeq)
		aerr = j.msg.Ack()
		log.DebugContext(ctx, "delivered", "outcome", d.Outcome, "status", rec.Status, "ms", rec.DurationMS)
	case policy.Retry:
		aerr = j.msg.NakWithDelay(d.Delay)
		log.WarnContext(ctx, "delivery failed, will retry", "status", rec.Status, "err", rec.Error, "retry_in", d.Delay)
	case policy.DeadLetter:
		r.firsts.forget(rec.StreamSeq)
		aerr = j.msg.TermWithReason("dead-lettered: " + d.Status)
		log.WarnContext(ctx, "dead-lettered", "status", d.Status, "err", rec.Error)
	}
	if aerr != nil {
		log.WarnContext(ctx, "ack not sent; the event will be redelivered and the repeat is harmless", "err", aerr)
	}
	r.observe(rec)
}
