package connectors

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hms/extsync/pkg/event"
)

// Connector pushes mapped events to one external system. Implementations
// are safe for concurrent use: the pipeline calls Deliver from up to
// `concurrency` goroutines at once.
type Connector interface {
	// Deliver sends one event. It returns nil once the external system has
	// confirmed it, or an error classified with a *DeliveryError.
	Deliver(ctx context.Context, d *Delivery) error
	// Timeout is the longest one Deliver may take; the pipeline keeps the
	// broker's ack wait above it so a slow delivery is not handed to a
	// second worker while the first is still running.
	Timeout() time.Duration
	// Close releases idle connections and other resources.
	Close() error
}

// Delivery is one attempt to send one event.
type Delivery struct {
	Event *event.Event
	// Body is the event data after the connector's mapping.
	Body map[string]any
	// JSON is Body already encoded, when the pipeline has it: the event's
	// data exactly as published, because no mapping or conflict rule
	// changed it. Nil otherwise. A kind that sends Body as JSON sends
	// these bytes instead of encoding Body again.
	JSON []byte
	// Attempt counts from 1.
	Attempt int
	// Delete says the entity is gone: the system's record is to be
	// removed (see Deleter). Body is then the deletion event's data,
	// mapped: enough to name the record (its key, its URL's fields).
	Delete bool
	// IfMatch, when set, makes the write conditional on the external
	// record's version (HTTP If-Match); a mismatch is a conflict.
	IfMatch string
	// ETag is set by the connector to the record's version the system
	// answered with, when it gives one.
	ETag string
	// Status is set by the connector to the system's status code when it
	// answered (HTTP status for http, webhook and soap; Deliver and Fetch
	// alike), so the sync log keeps it for a success too; 0 otherwise.
	Status int
}

// Remote is implemented by kinds that can read the external record, which
// the overwrite and merge conflict rules and verification need.
type Remote interface {
	// Fetch returns the system's current record for d's entity and its
	// version (ETag), "" when it has none. A system that has no record
	// of the entity gives an empty body (nil or no fields), not an error.
	// d carries the entity as the last delivery sent it: Event (Key,
	// Data) and Body, the mapped record.
	Fetch(ctx context.Context, d *Delivery) (body map[string]any, etag string, err error)
}

// Spec is what a factory needs to build one connector.
type Spec struct {
	Name string
	// Concurrency is how many deliveries the pipeline runs at once; size
	// connection pools to it.
	Concurrency int
	// Batch is set for mode: batch; a kind that needs more configuration
	// to send batches (http: a bulk URL) checks it in New.
	Batch bool
	// Decode fills v from the connector's kind block (e.g. `http:`),
	// rejecting unknown fields; its errors name the file, line and field.
	Decode func(v any) error
}

// Factory builds connectors of one kind. New must not do I/O: it also
// validates configuration at start, so it may run before any system is up.
type Factory interface {
	Kind() string
	New(spec Spec) (Connector, error)
}

// Kinds maps kind names (http, webhook, ...) to their factories.
type Kinds struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// NewKinds returns an empty set of kinds; see catalog.RegisterDefaults.
func NewKinds() *Kinds {
	return &Kinds{factories: map[string]Factory{}}
}

// Register adds f, replacing any factory of the same kind.
func (r *Kinds) Register(f Factory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.factories[f.Kind()] = f
}

// Kinds lists the registered kinds, sorted.
func (r *Kinds) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kinds := make([]string, 0, len(r.factories))
	for k := range r.factories {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// New builds a connector of the given kind.
func (r *Kinds) New(kind string, spec Spec) (Connector, error) {
	r.mu.RLock()
	f, ok := r.factories[kind]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown kind %q (known: %v)", kind, r.Names())
	}
	c, err := f.New(spec)
	if err != nil {
		return nil, fmt.Errorf("connector %q: %w", spec.Name, err)
	}
	return c, nil
}

// BatchConnector is implemented by kinds that can send many events as one
// unit: one file, one transaction, one bulk request (mode: batch).
type BatchConnector interface {
	Connector
	// DeliverBatch sends ds as one unit. It returns nil when the system
	// confirmed all of them, a *BatchError when it rejected some items and
	// accepted the rest, or any other (classified) error when the whole
	// batch failed and nothing was applied.
	DeliverBatch(ctx context.Context, ds []*Delivery) error
}

// BatchError reports the items of a batch the system rejected; the others
// were applied.
type BatchError struct {
	// Failed maps an index into the batch to that item's classified error.
	Failed map[int]error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("%d items of the batch were rejected", len(e.Failed))
}
