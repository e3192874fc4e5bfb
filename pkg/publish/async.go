package publish

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
)

// Pending is an event handed to JetStream whose PubAck may not have come
// back yet.
type Pending struct {
	ID     string
	Future jetstream.PubAckFuture
}

// PublishAsync sends like Publish but returns as soon as the event is
// written to the connection, for modules that emit many events at once
// (a bulk import, a migration). The event is stored only when its
// Future's Ok channel delivers; call Wait before treating a run as done.
// The number of events in flight is bounded by the JetStream context's
// PublishAsyncMaxPending: past it, PublishAsync blocks briefly and then
// fails rather than buffer without limit.
func (p *Publisher) PublishAsync(ctx context.Context, subject string, data any, opts ...Option) (Pending, error) {
	m, id, err := p.message(subject, data, opts)
	if err != nil {
		return Pending{}, err
	}
	_, span := startSpan(ctx, subject, id, m)
	defer span.End()
	fut, err := p.js.PublishMsgAsync(m, jetstream.WithMsgID(id))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return Pending{}, fmt.Errorf("publish event %s to %s: %w", id, subject, err)
	}
	return Pending{ID: id, Future: fut}, nil
}

// Wait returns once every event published asynchronously so far has its
// PubAck (or error), or when ctx ends. It says nothing about which
// succeeded: check each Pending's Future for that.
func (p *Publisher) Wait(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %d PubAcks: %w", p.js.PublishAsyncPending(), ctx.Err())
	}
}
