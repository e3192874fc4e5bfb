package pipeline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// settleTimeout bounds the broker round trips of one settle; it is not the
// run context, because a shutdown must still settle in-flight work.
const settleTimeout = 10 * time.Second

// outcome is one attempt's result on its way to being settled.
type outcome struct {
	j    *job
	err  error
	d    policy.Decision // zero until decided
	took time.Duration
	at   time.Time // when the attempt ended: the record's time
	// spanCtx holds the attempt's (or the batch's) span, whose trace id
	// the record carries; span, when set, is the attempt's own, which
	// the observer ends.
	spanCtx context.Context
	span    trace.Span
	rec     *synclog.Record // built by record, in the acker
}

// letterParker stores dead letters; *deadletter.Parker implements it.
type letterParker interface {
	Park(ctx context.Context, l *deadletter.Letter) error
}

// settler is the one place an outcome becomes final, in three steps
// with one name each:
//
//   - decide: the policy says what the outcome leads to (ack, retry
//     after a delay, dead letter, hold, hand back);
//   - settle: what must be durable before the ack is made so (a dead
//     letter is stored now; a retried event's first try is noted);
//   - then the acker records (sync log record, metrics and span, each
//     exactly once) and acks once the record is stored.
//
// Every mode and path (worker, batch, a malformed event, a stale one)
// settles through here.
type settler struct {
	connector string
	policy    policy.Policy
	letters   letterParker
	order     *entityOrder // releases claims; nil when ordering is none
	firsts    firstAttempts
	acks      *acker // set while the runner runs
	obs       *observer
}

// settle decides o (unless a batch already did) and makes it durable. If
// a write fails the message is left unacked: JetStream redelivers it
// after the ack wait, and a repeat is harmless.
func (s *settler) settle(o outcome) {
	if o.d.Action == 0 {
		o.d = s.policy.Decide(o.err, o.j.attempt)
	}
	if o.at.IsZero() {
		o.at = time.Now()
	}
	if o.spanCtx == nil {
		o.spanCtx = context.Background()
	}
	j := o.j
	switch o.d.Action {
	case policy.HandBack:
		s.releaseNow(o)
		_ = j.msg.Nak()
		return
	case policy.Retry:
		if j.attempt == 1 && !j.life.started.IsZero() {
			// Only an event that will be tried again needs its first try
			// remembered (for a dead letter's Extsync-First-Attempt).
			s.firsts.note(j.meta.Sequence.Stream, j.life.started)
		}
	case policy.DeadLetter:
		ctx, cancel := context.WithTimeout(context.WithoutCancel(o.spanCtx), settleTimeout)
		err := s.letters.Park(ctx, letter(s.connector, j, o.err, o.d, s.firstAttempt(j)))
		cancel()
		if err != nil {
			s.releaseNow(o)
			s.record(&o)
			s.obs.eventLog(o.rec).ErrorContext(o.spanCtx, "dead letter not stored; the event will be redelivered", "err", err)
			return
		}
	}
	s.acks.add(o)
}

// releaseNow writes o's entity state, if it has any pending, before an
// outcome that does not reach the acker.
func (s *settler) releaseNow(o outcome) {
	if p := s.releaseAsync(&o); p != nil {
		_ = p.Wait(o.spanCtx)
	}
}

// releaseAsync starts writing o's entity state: the claim's release, the
// record the system now holds; nil when there is nothing to write. The
// acker confirms it before the ack: a delivered version is recorded
// before its message is acked.
func (s *settler) releaseAsync(o *outcome) reconcile.Pending {
	j := o.j
	if !j.entity.pending {
		return nil
	}
	j.entity.pending = false
	// Without a claim to end, only a record the system took (and that
	// changed) is worth writing.
	if !s.order.applies(j) && o.err != nil {
		return nil
	}
	return s.order.releaseAsync(j, sent(o.err))
}

// record builds o's sync log record and counts it (metrics, span,
// status): the acker calls it once per outcome.
func (s *settler) record(o *outcome) {
	o.rec = record(s.connector, o)
	s.obs.outcome(o)
}

// ack acks, naks or terminates a message whose record is stored.
func (s *settler) ack(o outcome) {
	j, d := o.j, o.d
	var err error
	switch d.Action {
	case policy.Ack:
		if j.attempt > 1 {
			s.firsts.forget(j.meta.Sequence.Stream)
		}
		err = j.msg.Ack()
	case policy.Retry:
		err = j.msg.NakWithDelay(d.Delay)
	case policy.DeadLetter:
		if j.attempt > 1 {
			s.firsts.forget(j.meta.Sequence.Stream)
		}
		err = j.msg.TermWithReason("dead-lettered: " + d.Status)
	}
	s.obs.acked(o, err)
}

// firstAttempt is when this instance first tried j: this attempt's start
// if it is the first, else the time noted when the first one failed, else
// (first tried elsewhere, or in a batch) the time the event was stored.
func (s *settler) firstAttempt(j *job) time.Time {
	if j.attempt == 1 && !j.life.started.IsZero() {
		return j.life.started
	}
	return s.firsts.get(j.meta.Sequence.Stream, j.meta.Timestamp)
}
