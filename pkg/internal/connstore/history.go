package connstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Revision is one stored revision of a connector: a document, or its
// removal.
type Revision struct {
	Revision uint64    `json:"revision"`
	Updated  time.Time `json:"updated"`
	Removed  bool      `json:"removed,omitempty"`
	Doc      []byte    `json:"-"`
}

// History returns the revisions of name the bucket keeps (Config keeps
// ten), newest first; ErrUnknown when it holds none.
func (r *Store) History(ctx context.Context, name string) ([]Revision, error) {
	hist, err := r.kv.History(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w %q in the connector store", ErrUnknown, name)
	}
	if err != nil {
		return nil, fmt.Errorf("history of connector %q: %w", name, err)
	}
	out := make([]Revision, 0, len(hist))
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		out = append(out, Revision{Revision: e.Revision(), Updated: e.Created(), Doc: e.Value(),
			Removed: e.Operation() != jetstream.KeyValuePut})
	}
	return out, nil
}
