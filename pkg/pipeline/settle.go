package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// settleTimeout bounds the broker round trips of one settle; it is not the
// run context, because a shutdown must still settle in-flight work.
const settleTimeout = 10 * time.Second

// settle makes the outcome of one attempt durable, then (through the
// acker) acks, naks or terminates the message. If a write fails the
// message is left unacked: JetStream redelivers it after the ack wait, and
// a repeat is harmless. A dead letter is stored before settle returns; the
// sync log record is confirmed behind the worker's back.
func (r *Runner) settle(spanCtx context.Context, j *job, err error, took time.Duration) policy.Decision {
	d := r.decide(j, err)
	r.settleAs(spanCtx, j, err, d, took)
	return d
}

// decide is what becomes of j after an attempt that ended with err.
func (r *Runner) decide(j *job, err error) policy.Decision {
	switch {
	case errors.Is(err, reconcile.ErrSuperseded):
		return policy.Decision{Action: policy.Ack, Outcome: policy.OutcomeSuperseded}
	case errors.Is(err, reconcile.ErrConflictParked):
		return policy.Decision{Action: policy.Ack, Outcome: policy.OutcomeConflictParked}
	}
	return r.policy.Decide(err, j.attempt)
}

// settleAs settles j with a decision already taken (a batch's).
func (r *Runner) settleAs(spanCtx context.Context, j *job, err error, d policy.Decision, took time.Duration) {
	r.settleWith(pendingAck{j: j, d: d, err: err, took: took, at: time.Now(), spanCtx: spanCtx})
}

// settleWith does on the worker only what must precede the ack: it
// remembers a first failure and stores a dead letter. The sync log
// record, the counters and the span's end are the acker's (account): at
// one worker they were about 3.5 µs of the worker's path between two
// requests, and the acker runs on the other core meanwhile.
func (r *Runner) settleWith(p pendingAck) {
	j, d := p.j, p.d
	if d.Action == policy.Retry && j.attempt == 1 && !j.started.IsZero() {
		// Only an event that will be tried again needs its first try
		// remembered (for a dead letter's Extsync-First-Attempt); most
		// succeed at once and cost no map write.
		r.firsts.note(j.meta.Sequence.Stream, j.started)
	}
	if d.Action == policy.DeadLetter {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.spanCtx), settleTimeout)
		perr := r.parker.Park(ctx, r.letter(j, p.err, d))
		cancel()
		if perr != nil {
			r.account(&p)
			r.eventLog(p.rec).ErrorContext(p.spanCtx, "dead letter not stored; the event will be redelivered", "err", perr)
			return
		}
	}
	r.acks.add(p)
}

// account builds p's sync log record, counts the outcome and ends the
// attempt's span (when p carries one).
func (r *Runner) account(p *pendingAck) {
	rec := r.record(p.j, p.err, p.d, p.took, p.at)
	rec.TraceID = traceIDOf(p.spanCtx, p.j)
	p.rec = rec
	if p.err != nil {
		r.stats.failure(rec.Error)
	} else {
		r.stats.delivered.Add(1)
	}
	if p.span != nil {
		err := p.err
		if errors.Is(err, reconcile.ErrSuperseded) {
			err = nil // skipped on purpose: not an error on the span
		}
		r.endSpan(p.spanCtx, p.span, p.j, err, p.d, p.took, p.at)
	}
}

// eventLog is the connector's logger with the event's identity, built
// only when something is logged: building it for every delivery was a
// handful of allocations on the hot path.
func (r *Runner) eventLog(rec *synclog.Record) *slog.Logger {
	return r.log.With("event", rec.EventID, "seq", rec.StreamSeq, "attempt", rec.Attempt)
}

// firstAttempt is when this instance first tried j: this attempt's start
// if it is the first, else the time noted when the first one failed, else
// (first tried elsewhere, or in a batch) the time the event was stored.
func (r *Runner) firstAttempt(j *job) time.Time {
	if j.attempt == 1 && !j.started.IsZero() {
		return j.started
	}
	return r.firsts.get(j.meta.Sequence.Stream, j.meta.Timestamp)
}

// traceIDOf is the trace id of the attempt's (or batch's) own span, else
// the producer's from j's traceparent header, read only then: a span
// nearly always has one.
func traceIDOf(ctx context.Context, j *job) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	if j.ev == nil {
		return ""
	}
	return traceID(event.HeaderValue(j.ev.Header, "traceparent"))
}

func (r *Runner) record(j *job, err error, d policy.Decision, took time.Duration, at time.Time) *synclog.Record {
	rec := &synclog.Record{
		Time:           at.UTC(),
		Connector:      r.cfg.Name,
		Subject:        j.subject,
		StreamSeq:      j.meta.Sequence.Stream,
		Attempt:        j.attempt,
		Outcome:        d.Outcome,
		DurationMS:     float64(took.Microseconds()) / 1000,
		MappingVersion: j.mappingVersion,
	}
	noteReplay(rec, j)
	if j.ev != nil {
		rec.EventID, rec.Entity, rec.Version = j.ev.ID, j.ev.Key, j.ev.Version
	} else {
		rec.EventID = fallbackID(j)
	}
	if err != nil {
		de := connectors.AsDeliveryError(err)
		rec.Status, rec.Error = de.Status, de.Error()
	}
	if d.Action == policy.Retry {
		rec.RetryInMS = d.Delay.Milliseconds()
	}
	return rec
}

func (r *Runner) letter(j *job, err error, d policy.Decision) *deadletter.Letter {
	de := connectors.AsDeliveryError(err)
	now := time.Now()
	l := &deadletter.Letter{
		Connector:      r.cfg.Name,
		Subject:        j.subject,
		Stream:         j.meta.Stream,
		StreamSeq:      j.meta.Sequence.Stream,
		EventID:        fallbackID(j),
		Attempts:       j.attempt,
		Reason:         de.Error(),
		Status:         d.Status,
		HTTPStatus:     de.Status,
		FirstAttempt:   r.firstAttempt(j),
		LastAttempt:    now,
		Body:           j.msg.Data(),
		Header:         j.msg.Headers(),
		MappingVersion: j.mappingVersion,
	}
	if j.ev != nil {
		l.EventID = j.ev.ID
	}
	carryOver(l, j)
	return l
}

// fallbackID names an event that could not be decoded.
func fallbackID(j *job) string {
	return event.MessageID(j.msg.Headers(), j.meta.Stream, j.meta.Sequence.Stream)
}

// traceID is the trace id in a W3C traceparent
// ("00-<32 hex>-<16 hex>-<2 hex>"), or "": four parts, the second of 32
// characters. (strings.Split allocated the parts for every event.)
func traceID(traceparent string) string {
	_, rest, ok := strings.Cut(traceparent, "-")
	if !ok {
		return ""
	}
	id, rest, ok := strings.Cut(rest, "-")
	if !ok || len(id) != 32 || strings.Count(rest, "-") != 1 {
		return ""
	}
	return id
}

func (r *Runner) observe(rec *synclog.Record) {
	if r.onRecord != nil {
		r.onRecord(*rec)
	}
	if rec.Outcome != policy.OutcomeDelivered && r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.Debug("settled", "record", rec)
	}
}

// firstAttempts remembers when this instance first tried each message, for
// a dead letter's Extsync-First-Attempt. A message first tried elsewhere
// (another instance, before a restart) falls back to its stored time.
type firstAttempts struct {
	mu sync.Mutex
	m  map[uint64]time.Time
}

// maxFirstAttempts caps the map: entries of messages another instance
// finished are never forgotten here, so the map is reset when full.
const maxFirstAttempts = 100_000

func (f *firstAttempts) note(seq uint64, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= maxFirstAttempts {
		f.m = map[uint64]time.Time{}
	}
	if _, ok := f.m[seq]; !ok {
		f.m[seq] = t
	}
}

func (f *firstAttempts) get(seq uint64, fallback time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.m[seq]; ok {
		return t
	}
	return fallback
}

func (f *firstAttempts) forget(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, seq)
}
