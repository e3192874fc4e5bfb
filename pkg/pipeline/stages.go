package pipeline

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/mapping"
	"github.com/hms/extsync/pkg/policy"
)

// job is one message on its way through the stages.
type job struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	// touched is when JetStream last heard this message is being worked
	// on: its arrival, or the last "in progress" sent for it (keepAlive).
	touched time.Time
	started time.Time // this attempt's start; zero in batch mode
	attempt int
	// subject is where the event was published: the message's subject, or
	// for a replayed dead letter the original one (Extsync-Subject).
	subject string
	// parent is the producer's trace context (producerContext), set by
	// newJob for every job a worker runs; batches link their events'
	// contexts instead, and leave it nil.
	parent context.Context
	key    string // entity key used for in-process ordering; "" for none
	// admitted: the feeder gave the job its entity (keyQueue.admit).
	admitted bool

	ev   *event.Event
	body map[string]any
	// mapping and mappingVersion are what the map stage applies: the
	// connector's current mapping, or for a replay asking for it, the
	// one the event was first sent with.
	mapping        *mapping.Mapping
	mappingVersion string
	// ifMatch and base come from the entity's last sync; etag is the
	// system's version after this delivery.
	ifMatch, etag string
	base          map[string]any
	// take is a person's choice for a parked conflict sent back.
	take string
	err  error // set by a stage that failed before delivery
	// data is the event's body when it is not the message's own: a
	// replayed dead letter whose body stayed in its stream.
	data []byte
	// held is the budget the job's bytes count against until a worker
	// starts it (nil once released); size is what it counts.
	held *budget
	size int64
}

// bodyJSON is the body's JSON text when the body is the event's data
// itself (no mapping, no merge replaced it) and the decoder kept that
// text; nil otherwise. Maps are never changed in place on the way, so
// the same map means the same content.
func (j *job) bodyJSON() []byte {
	if j.ev == nil || j.ev.DataJSON == nil || j.body == nil ||
		reflect.ValueOf(j.body).UnsafePointer() != reflect.ValueOf(j.ev.Data).UnsafePointer() {
		return nil
	}
	return j.ev.DataJSON
}

// raw is the event's body as published.
func (j *job) raw() []byte {
	if j.data != nil {
		return j.data
	}
	return j.msg.Data()
}

// handler is a stage's view of what comes after it.
type handler func(ctx context.Context, j *job) error

// stage wraps a handler with one concern (watermill-style middleware).
type stage func(next handler) handler

func chain(h handler, stages ...stage) handler {
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// decode reads the message into an event. It runs in the dispatcher,
// because the entity key decides which jobs may run side by side; a
// failure is kept on the job and settled like any other.
func decode(j *job, opt event.Options, maxBytes int) {
	if j.err != nil {
		return
	}
	body := j.raw()
	if len(body) > maxBytes {
		j.err = connectors.PermanentError(0, fmt.Errorf(
			"event body is %d bytes, over the connector's max_event_bytes of %d", len(body), maxBytes))
		return
	}
	ev, err := event.Decode(event.Message{
		Subject: j.subject,
		Stream:  j.meta.Stream,
		Seq:     j.meta.Sequence.Stream,
		Time:    j.meta.Timestamp,
		Header:  j.msg.Headers(),
		Body:    body,
	}, opt)
	if err != nil {
		j.err = connectors.PermanentError(0, err)
		return
	}
	j.ev = ev
	j.key = ev.Key
}

// failed stops a job that an earlier step already failed.
func failed(next handler) handler {
	return func(ctx context.Context, j *job) error {
		if j.err != nil {
			return j.err
		}
		return next(ctx, j)
	}
}

// mapStage turns event data into the external record, with the mapping
// chosen for the job.
func mapStage(next handler) handler {
	return func(ctx context.Context, j *job) error {
		body, err := j.mapping.Apply(j.ev.Data)
		if err != nil {
			if errors.Is(err, mapping.ErrUnmappable) {
				return connectors.PermanentError(0, err)
			}
			return err
		}
		j.body = body
		return next(ctx, j)
	}
}

// guardStage applies the connector's shared throttle, rate limit and
// circuit breaker. While the breaker is open the job waits here, its
// message kept alive, rather than going back to JetStream: a rejection by
// an open breaker is not an attempt, so an outage delays events instead of
// burning their attempts, and with every worker waiting no more are
// pulled. When the breaker lets a probe through, one job goes; the rest
// wait again.
func guardStage(g *policy.Guard, ackWait time.Duration) stage {
	return func(next handler) handler {
		return func(ctx context.Context, j *job) error {
			if err := g.Pace(ctx, j.keepAlive, ackWait/3); err != nil {
				return err
			}
			for {
				err := g.Acquire(ctx)
				if err == nil {
					break
				}
				if !errors.Is(err, policy.ErrBreakerOpen) || !hold(ctx, j, connectors.AsDeliveryError(err).RetryAfter, ackWait) {
					return err
				}
			}
			err := next(ctx, j)
			g.Record(ctx, err)
			return err
		}
	}
}

// hold waits d (at least a moment), telling JetStream the message is
// being worked on whenever a third of the ack wait has passed since it
// last heard; false when ctx ended first. The keep-alive is measured from
// j.touched, not from this call: the breaker's delay is often shorter
// than a third of the ack wait, and a timer started per call never fired,
// so a long outage let JetStream send held messages again (9 duplicates
// in the fault suite's 500 storm).
func hold(ctx context.Context, j *job, d, ackWait time.Duration) bool {
	wait := time.NewTimer(max(d, 50*time.Millisecond))
	defer wait.Stop()
	keep := max(ackWait/3, 10*time.Millisecond)
	for {
		due := keep - time.Since(j.touched)
		if due <= 0 {
			j.keepAlive()
			continue
		}
		alive := time.NewTimer(due)
		select {
		case <-ctx.Done():
			alive.Stop()
			return false
		case <-wait.C:
			alive.Stop()
			return true
		case <-alive.C:
		}
	}
}

// keepAlive tells JetStream the message is still being worked on.
func (j *job) keepAlive() {
	_ = j.msg.InProgress()
	j.touched = time.Now()
}

// keepAliveAfter calls keepAlive if JetStream last heard of j at least
// after ago: the one rule for every place a message can wait.
func (j *job) keepAliveAfter(now time.Time, after time.Duration) {
	if now.Sub(j.touched) >= after {
		j.keepAlive()
	}
}

// deliverTo is the last stage: hand the job to the connector, bounded by
// the connector's own timeout.
func deliverTo(c connectors.Connector) handler {
	return func(ctx context.Context, j *job) error {
		ctx, cancel := context.WithTimeout(ctx, c.Timeout())
		defer cancel()
		// The trace context reaches the system through the HTTP client's
		// transport (telemetry.Transport), from the client span it starts
		// under this attempt's span.
		d := &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt, IfMatch: j.ifMatch, JSON: j.bodyJSON()}
		defer func() { j.etag = d.ETag }()
		err := c.Deliver(ctx, d)
		if err != nil && ctx.Err() != nil && connectors.Classify(err) != connectors.Permanent {
			return connectors.TransientError(0, fmt.Errorf("delivery did not finish within %s: %w", c.Timeout(), err))
		}
		return err
	}
}
