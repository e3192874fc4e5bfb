package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/internal/mapping"
)

// handler is a stage's view of what comes after it.
type handler func(ctx context.Context, j *job) error

// stage wraps a handler with one concern. Each stage is a value built
// from exactly what it needs, so it can be tested alone with a fake next
// handler. Stages return a classified error and decide nothing: what an
// outcome leads to is the policy's (see settler).
type stage func(next handler) handler

func chain(h handler, stages ...stage) handler {
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// failed stops a job that the reader already failed (malformed,
// oversized): it is settled like any other outcome.
func failed(next handler) handler {
	return func(ctx context.Context, j *job) error {
		if j.err != nil {
			return j.err
		}
		return next(ctx, j)
	}
}

// mapStage turns event data into the external record, with the mapping
// the job's route names.
func mapStage(next handler) handler {
	return func(ctx context.Context, j *job) error {
		body, err := j.route.mapping.Apply(j.ev.Data)
		if err != nil && j.delete && errors.Is(err, mapping.ErrNothingMapped) {
			// A deletion often carries its key alone: nothing to write,
			// and nothing needed to delete (the URL is filled from the
			// event; a kind that needs mapped fields says which).
			body, err = map[string]any{}, nil
		}
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

// deletable refuses, before any claim or attempt, a deletion that c's
// kind cannot send: permanent, so it is dead-lettered rather than sent
// as an update (see connectors.Deleter).
func deletable(c connectors.Connector) stage {
	_, ok := c.(connectors.Deleter)
	return func(next handler) handler {
		return func(ctx context.Context, j *job) error {
			if j.delete && !ok {
				return connectors.PermanentError(0, fmt.Errorf("%w: a deletion of entity %q (see docs/delivery.md#deletions)",
					connectors.ErrCannotDelete, j.entity.key))
			}
			return next(ctx, j)
		}
	}
}

// deliver is the last stage of a realtime connector: hand the job to the
// connector, bounded by the connector's own timeout.
func deliver(c connectors.Connector) handler {
	return func(ctx context.Context, j *job) error {
		ctx, cancel := context.WithTimeout(ctx, c.Timeout())
		defer cancel()
		// The trace context reaches the system through the HTTP client's
		// transport (telemetry.Transport), from the client span it starts
		// under this attempt's span.
		d := &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt, IfMatch: j.entity.ifMatch, JSON: j.bodyJSON(),
			Delete: j.delete}
		defer func() { j.entity.etag, j.entity.status = d.ETag, d.Status }()
		err := connectors.Send(ctx, c, d)
		if err != nil && ctx.Err() != nil && connectors.Classify(err) != connectors.Permanent {
			return connectors.TransientError(0, fmt.Errorf("delivery did not finish within %s: %w", c.Timeout(), err))
		}
		return err
	}
}

// accept is the last stage of a batch connector: a job that reaches it
// is ready to be coalesced into the next batch.
func accept(context.Context, *job) error { return nil }
