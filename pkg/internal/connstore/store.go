package connstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
)

// Bucket is the KV bucket of the connector store.
const Bucket = "extsync_connectors"

// ErrUnknown marks a name the connector store does not hold.
var ErrUnknown = errors.New("no such connector")

// Config keeps a few revisions per connector, so an operator can see
// what an apply replaced.
func Config(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "extsync connector store", History: 10,
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	}
}

// Store reads and writes the bucket.
type Store struct {
	kv jetstream.KeyValue
}

// Open creates the bucket when missing.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := broker.EnsureKV(ctx, js, Config(replicas))
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv}, nil
}

// Remove deletes name from the connector store.
func (r *Store) Remove(ctx context.Context, name string) error {
	if _, err := r.kv.Get(ctx, name); errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w %q in the connector store", ErrUnknown, name)
	} else if err != nil {
		return fmt.Errorf("connector %q: %w", name, err)
	}
	if err := r.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("remove connector %q: %w", name, err)
	}
	return nil
}

// Entry is one connector as stored.
type Entry struct {
	Name     string    `json:"name"`
	Revision uint64    `json:"revision"`
	Updated  time.Time `json:"updated"`
	Doc      []byte    `json:"-"`
}

// List returns every stored connector, by name.
func (r *Store) List(ctx context.Context) ([]Entry, error) {
	lister, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	var out []Entry
	for name := range lister.Keys() {
		e, err := r.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("connector %q: %w", name, err)
		}
		out = append(out, Entry{Name: name, Revision: e.Revision(), Updated: e.Created(), Doc: e.Value()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Load validates one stored document with this instance's environment.
func Load(e Entry, env config.LookupEnv, check config.Checker) (*config.Connector, error) {
	f, err := config.Parse(Bucket+"/"+e.Name, e.Doc, env, check)
	if err != nil {
		return nil, err
	}
	return &f.Connectors[0], nil
}

// Watch calls fn for every entry as it is now, then for every change
// until ctx ends; removed is set for a deletion. Revisions only grow, so
// the caller can skip what it has already applied.
func (r *Store) Watch(ctx context.Context, fn func(e Entry, removed bool)) error {
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch KV %s: %w", Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case kve, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch KV %s: stopped", Bucket)
			}
			if kve == nil {
				continue // the end of the initial values
			}
			fn(Entry{Name: kve.Key(), Revision: kve.Revision(), Updated: kve.Created(), Doc: kve.Value()},
				kve.Operation() != jetstream.KeyValuePut)
		}
	}
}
