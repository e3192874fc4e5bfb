package connectors

import (
	"context"
	"errors"
)

// Deleter is implemented by kinds that can remove an entity's record
// from the system. For a deletion (Delivery.Delete set: the entity is
// gone) the pipeline calls Delete instead of Deliver; a kind without it
// cannot delete, and its deletions fail with ErrCannotDelete. A
// BatchConnector that is a Deleter honours Delivery.Delete in
// DeliverBatch too.
//
// A Delete is idempotent: a system that no longer holds the record
// (HTTP 404 or 410, no row) has what was asked, and Delete returns nil.
type Deleter interface {
	Delete(ctx context.Context, d *Delivery) error
}

// ErrCannotDelete is the permanent failure of a deletion sent through a
// kind that cannot delete (not a Deleter): the event is dead-lettered
// rather than sent as an update, which would tell the system the
// opposite of what happened.
var ErrCannotDelete = errors.New("the connector's kind cannot delete a record")

// Send is the pipeline's one call for d: Delete for a deletion (or
// ErrCannotDelete, permanent, when c cannot delete), Deliver otherwise.
func Send(ctx context.Context, c Connector, d *Delivery) error {
	if !d.Delete {
		return c.Deliver(ctx, d)
	}
	del, ok := c.(Deleter)
	if !ok {
		return PermanentError(0, ErrCannotDelete)
	}
	return del.Delete(ctx, d)
}
