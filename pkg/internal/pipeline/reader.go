package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
)

// decoder turns a consumer's message into a job: the event decoded, its
// route chosen. It is the chain's first step and runs in the reader,
// before any worker, because the entity key decides which jobs may run
// side by side. A failure is kept on the job and settled like any other.
type decoder struct {
	opts     event.Options
	maxBytes int
	routes   *router
	// traced extracts the producer's trace context for the attempt span
	// to be its child; batches link their events' contexts instead.
	traced bool
	// deletes says whether an event means its entity is gone
	// (config.Connector.Deletes).
	deletes func(*event.Event) bool
}

// job decodes msg; an error means msg has no JetStream metadata.
func (d *decoder) job(msg jetstream.Msg) (*job, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	j := &job{msg: msg, meta: meta, attempt: int(meta.NumDelivered), subject: msg.Subject()} // #nosec G115 -- one delivery per backoff wait: the count never nears 2^63
	j.life.touched = time.Now()
	if orig := msg.Headers().Get(deadletter.HeaderSubject); orig != "" && meta.Stream == deadletter.ReplayStream {
		j.subject = orig
		j.data, j.err = d.routes.omittedBody(msg)
	}
	d.decode(j)
	d.routes.choose(j)
	if d.traced {
		j.parent = producerContext(msg)
	}
	return j, nil
}

func (d *decoder) decode(j *job) {
	if j.err != nil {
		return
	}
	body := j.raw()
	if len(body) > d.maxBytes {
		j.err = connectors.PermanentError(0, fmt.Errorf(
			"event body is %d bytes, over the connector's max_event_bytes of %d", len(body), d.maxBytes))
		return
	}
	ev, err := event.Decode(event.Message{
		Subject: j.subject,
		Stream:  j.meta.Stream,
		Seq:     j.meta.Sequence.Stream,
		Time:    j.meta.Timestamp,
		Header:  j.msg.Headers(),
		Body:    body,
	}, d.opts)
	if err != nil {
		j.err = connectors.PermanentError(0, err)
		return
	}
	j.ev = ev
	j.entity.key = ev.Key
	j.delete = d.deletes != nil && d.deletes(ev)
}

// reader moves one consumer's messages into an intake as jobs.
type reader struct {
	connector string
	decoder   *decoder
	log       *slog.Logger
}

// read runs until the iterator is closed or the consumer is gone.
func (r *reader) read(ctx context.Context, it jetstream.MessagesContext, in *intake) error {
	defer in.finish()
	next := broker.NewIter(it)
	for {
		// Full: the messages stay with JetStream (and at most one pull
		// batch in the client) until workers start what is queued. When
		// ctx ends the iterator is drained below instead.
		in.budget.wait(ctx)
		msg, err := next.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			if consumerGone(err) {
				return fmt.Errorf("connector %q: %w", r.connector, err)
			}
			r.log.Warn("consume", "err", err)
			continue
		}
		if ctx.Err() != nil {
			_ = msg.Nak() // shutting down: hand buffered messages to other instances now
			continue
		}
		j, err := r.decoder.job(msg)
		if err != nil {
			r.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		in.budget.take(j, int64(len(msg.Data())))
		in.put(j)
	}
}

// consumerGone says whether err means no more messages will come.
func consumerGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, nats.ErrConnectionClosed)
}
