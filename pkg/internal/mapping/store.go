package mapping

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/hms/extsync/pkg/broker"
	"github.com/nats-io/nats.go/jetstream"
)

// StoreBucket keeps every mapping a connector has run with, by version,
// so a dead letter can be replayed with the mapping it was first sent
// with.
const StoreBucket = "extsync_mappings"

// Identity is the version of no mapping: the event's data as it is.
const Identity = "identity"

// Version names a mapping by its content: the same rules give the same
// version on every instance and after every restart.
func Version(rules map[string]string) string {
	if len(rules) == 0 {
		return Identity
	}
	b, _ := json.Marshal(rules) // map keys are sorted: canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// ErrUnknownVersion marks a version the store does not hold.
var ErrUnknownVersion = errors.New("unknown mapping version")

// Store reads and writes the mapping versions of the connectors.
type Store struct {
	kv    jetstream.KeyValue
	mu    sync.Mutex
	cache map[string]*Mapping
}

// OpenStore creates the bucket when missing.
func OpenStore(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: StoreBucket, Description: "extsync mapping versions, for replays with the original mapping",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv, cache: map[string]*Mapping{}}, nil
}

func key(connector, version string) string { return connector + "." + version }

// Save records rules as connector's mapping of that version.
func (s *Store) Save(ctx context.Context, connector string, rules map[string]string) (string, error) {
	v := Version(rules)
	b, err := json.Marshal(rules)
	if err != nil {
		return v, err
	}
	if _, err := s.kv.Create(ctx, key(connector, v), b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return v, fmt.Errorf("store mapping %s of connector %q: %w", v, connector, err)
	}
	return v, nil
}

// Get returns connector's mapping of version v.
func (s *Store) Get(ctx context.Context, connector, v string) (*Mapping, error) {
	s.mu.Lock()
	m, ok := s.cache[key(connector, v)]
	s.mu.Unlock()
	if ok {
		return m, nil
	}
	e, err := s.kv.Get(ctx, key(connector, v))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w %q for connector %q", ErrUnknownVersion, v, connector)
	}
	if err != nil {
		return nil, fmt.Errorf("mapping %s of connector %q: %w", v, connector, err)
	}
	var rules map[string]string
	if err := json.Unmarshal(e.Value(), &rules); err != nil {
		return nil, fmt.Errorf("mapping %s of connector %q: %w", v, connector, err)
	}
	m = New(rules)
	s.mu.Lock()
	s.cache[key(connector, v)] = m
	s.mu.Unlock()
	return m, nil
}
