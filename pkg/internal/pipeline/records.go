package pipeline

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/synclog"
)

// record is o's sync log record.
func record(connector string, o *outcome) *synclog.Record {
	j, d := o.j, o.d
	rec := &synclog.Record{
		Time:           o.at.UTC(),
		Connector:      connector,
		Subject:        j.subject,
		StreamSeq:      originalSeq(j),
		Attempt:        attemptOf(j),
		Outcome:        d.Outcome,
		DurationMS:     float64(o.took.Microseconds()) / 1000,
		MappingVersion: j.route.version,
		TraceID:        traceIDOf(o.spanCtx, j),
	}
	noteReplay(rec, j)
	if j.ev != nil {
		rec.EventID, rec.Entity, rec.Version = j.ev.ID, j.ev.Key, j.ev.Version
		if j.delete {
			rec.Operation = synclog.OperationDelete
		}
	} else {
		rec.EventID = fallbackID(j)
	}
	switch {
	case o.err != nil:
		de := connectors.AsDeliveryError(o.err)
		rec.Status, rec.Error = de.Status, de.Error()
		if d.Action == policy.Ack && de.Err != nil {
			// Superseded, parked, skipped: settled, not failed; the
			// class ("transient: ...") would misread as a failure.
			rec.Error = de.Err.Error()
		}
	default:
		rec.Status = j.entity.status
	}
	if d.Action == policy.Retry || d.Action == policy.Hold {
		rec.RetryInMS = d.Delay.Milliseconds()
	}
	return rec
}

// letter is the dead letter of j, which failed with err.
func letter(connector string, j *job, err error, d policy.Decision, first time.Time) *deadletter.Letter {
	de := connectors.AsDeliveryError(err)
	l := &deadletter.Letter{
		Connector:      connector,
		Subject:        j.subject,
		Stream:         j.meta.Stream,
		StreamSeq:      j.meta.Sequence.Stream,
		EventID:        fallbackID(j),
		Attempts:       j.attempt,
		Reason:         de.Error(),
		Status:         d.Status,
		HTTPStatus:     de.Status,
		FirstAttempt:   first,
		LastAttempt:    time.Now(),
		Body:           j.msg.Data(),
		Header:         j.msg.Headers(),
		MappingVersion: j.route.version,
	}
	if j.ev != nil {
		l.EventID = j.ev.ID
	}
	carryOver(l, j)
	return l
}

// attemptOf is j's attempt as the event's story counts it: for a
// replayed dead letter, the attempts it had before it was parked
// (Extsync-Attempts) and this one, as its dead letter would count them.
func attemptOf(j *job) int {
	if j.meta.Stream != deadletter.ReplayStream {
		return j.attempt
	}
	if prior, err := strconv.Atoi(j.msg.Headers().Get(deadletter.HeaderAttempts)); err == nil && prior > 0 {
		return prior + j.attempt
	}
	return j.attempt
}

// carryOver makes a replayed event that fails again count every attempt
// it ever had and keep its first one, so a dead letter says how long the
// event has really been failing.
func carryOver(l *deadletter.Letter, j *job) {
	if j.meta.Stream != deadletter.ReplayStream {
		return
	}
	h := j.msg.Headers()
	if prior, err := strconv.Atoi(h.Get(deadletter.HeaderAttempts)); err == nil && prior > 0 {
		l.Attempts += prior
	}
	if first, err := time.Parse(time.RFC3339Nano, h.Get(deadletter.HeaderFirstAttempt)); err == nil {
		l.FirstAttempt = first
	}
}

// noteReplay marks the sync log record of a replayed event: which dead
// letter it replays and who asked, so an event's story shows the replay.
func noteReplay(rec *synclog.Record, j *job) {
	if j.meta.Stream != deadletter.ReplayStream {
		return
	}
	h := j.msg.Headers()
	rec.ReplayOf, _ = strconv.ParseUint(h.Get(deadletter.HeaderReplayOf), 10, 64)
	rec.Actor = h.Get(deadletter.HeaderReplayedBy)
}

// fallbackID names an event that could not be decoded.
func fallbackID(j *job) string {
	return event.MessageID(j.msg.Headers(), j.meta.Stream, j.meta.Sequence.Stream)
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

// traceID is the trace id in a W3C traceparent
// ("00-<32 hex>-<16 hex>-<2 hex>"), or "": four parts, the second of 32
// characters. It cuts rather than splits, so it allocates nothing.
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
