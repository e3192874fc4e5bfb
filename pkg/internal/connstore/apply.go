package connstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/synclog"
)

// Prepare validates a connectors document exactly as serve validates its
// file (source names it in the positioned errors) and cuts it into the
// single-connector documents the connector store stores, in document order.
func Prepare(source string, data []byte, env config.LookupEnv, check config.Checker) ([]string, map[string][]byte, error) {
	if _, err := config.Parse(source, data, env, check); err != nil {
		return nil, nil, err
	}
	names, docs, err := Split(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	return names, docs, nil
}

// Change is what storing one connector did.
type Change struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	// Changed is false when the connector store already held this document:
	// nothing was written, so no instance restarts the connector.
	Changed bool `json:"changed"`
}

// PutOne stores one connector's document unless the connector store already
// holds exactly it.
func (r *Store) PutOne(ctx context.Context, name string, doc []byte) (Change, error) {
	if cur, err := r.kv.Get(ctx, name); err == nil && bytes.Equal(cur.Value(), doc) {
		return Change{Name: name, Revision: cur.Revision()}, nil
	} else if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return Change{}, fmt.Errorf("connector %q: %w", name, err)
	}
	rev, err := r.kv.Put(ctx, name, doc)
	if err != nil {
		return Change{}, fmt.Errorf("store connector %q: %w", name, err)
	}
	return Change{Name: name, Revision: rev, Changed: true}, nil
}

// Apply stores docs in the order of names and records each connector it
// changed in that connector's sync log, as done by actor. An unchanged
// connector writes nothing and is not recorded.
func (r *Store) Apply(ctx context.Context, js jetstream.JetStream, names []string, docs map[string][]byte, actor string) ([]Change, error) {
	var out []Change
	for _, name := range names {
		c, err := r.PutOne(ctx, name, docs[name])
		if err != nil {
			return out, err
		}
		out = append(out, c)
		if !c.Changed {
			continue
		}
		if err := synclog.Audit(ctx, js, name, actor, "connectors apply", 1); err != nil {
			return out, fmt.Errorf("connector %q applied but not recorded in the sync log: %w", name, err)
		}
	}
	return out, nil
}

// Delete removes name from the connector store and records it, as done by actor.
// A name the connector store does not hold is ErrUnknown, and nothing is written.
func (r *Store) Delete(ctx context.Context, js jetstream.JetStream, name, actor string) error {
	if err := r.Remove(ctx, name); err != nil {
		return err
	}
	if err := synclog.Audit(ctx, js, name, actor, "connectors rm", 1); err != nil {
		return fmt.Errorf("connector %q removed but not recorded in the sync log: %w", name, err)
	}
	return nil
}

// ProcessActor names this process for an audit record: role, OS user and
// host, such as "cli:alice@ops-1".
func ProcessActor(role string) string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return role + ":" + name + "@" + host
}
