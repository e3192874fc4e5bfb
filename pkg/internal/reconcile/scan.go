package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Key is the bucket key of connector's entity: connector.entity, or
// connector.h-<hash> for an entity key with characters a KV key cannot
// hold (see HashedKey).
func Key(connector, entity string) string { return key(connector, entity) }

// HashedKey says whether bucket key k names its entity by a hash: the
// entity key's text cannot be read from it.
func HashedKey(connector, k string) bool {
	return strings.HasPrefix(k, connector+".h-")
}

// EntityOf is the entity key a bucket key of connector names, "" for a
// hashed key or a key of another connector.
func EntityOf(connector, k string) string {
	e, ok := strings.CutPrefix(k, connector+".")
	if !ok || HashedKey(connector, k) {
		return ""
	}
	return e
}

// EachKey calls fn with the bucket key of each of connector's entities,
// in no set order. The keys are read a page at a time, so memory does
// not grow with their number. count, when set, is told first how many
// keys are about to come: an upper bound, as it counts keys deleted
// since they were written.
func (s *Store) EachKey(ctx context.Context, connector string, count func(n int), fn func(k string) error) error {
	cons, err := s.js.OrderedConsumer(ctx, "KV_"+Bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{kvSubjectPrefix + connector + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    true,
	})
	if err != nil {
		return fmt.Errorf("KV %s: list %s: %w", Bucket, connector, err)
	}
	first := true
	for {
		// Every key is stored already: a page comes at once, and an
		// empty one means there is nothing (more) to read.
		batch, err := cons.FetchNoWait(keyPage)
		if err != nil {
			return fmt.Errorf("KV %s: list %s: %w", Bucket, connector, err)
		}
		last, got := false, 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("KV %s: list %s: %w", Bucket, connector, err)
			}
			if first && count != nil {
				count(int(min(meta.NumPending, math.MaxInt32)) + 1) // #nosec G115 -- bounded by min
			}
			first, last = false, meta.NumPending == 0
			if op := m.Headers().Get(kvOperation); op == "DEL" || op == "PURGE" {
				continue
			}
			if err := fn(strings.TrimPrefix(m.Subject(), kvSubjectPrefix)); err != nil {
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("KV %s: list %s: %w", Bucket, connector, err)
		}
		if last || got == 0 {
			if first && count != nil {
				count(0)
			}
			return ctx.Err()
		}
	}
}

const (
	kvSubjectPrefix = "$KV." + Bucket + "."
	kvOperation     = "KV-Operation"
	keyPage         = 256
)

// Read is the state at bucket key k and its revision; revision 0 when
// the key is absent.
func (s *Store) Read(ctx context.Context, k string) (State, uint64, error) {
	st, rev, err := s.get(ctx, k)
	if err != nil {
		return st, rev, fmt.Errorf("KV %s: %s: %w", Bucket, k, err)
	}
	return st, rev, nil
}

// ErrMoved says the entity's state moved on (a newer delivery) since the
// state a caller judged: the judgement is not recorded.
var ErrMoved = errors.New("the entity was delivered again since it was verified")

// SetDrifted records at bucket key k whether verification found the
// system's record differing from the snapshot of seq, the state verified.
// Compare-and-set: when the entity was delivered again since (its seq
// moved), nothing is written and ErrMoved returned, because that delivery
// made the verdict stale; a claim taken or released meanwhile is kept.
func (s *Store) SetDrifted(ctx context.Context, k string, seq uint64, drifted bool) error {
	for range 10 {
		st, rev, err := s.get(ctx, k)
		if err != nil {
			return fmt.Errorf("KV %s: %s: %w", Bucket, k, err)
		}
		switch {
		case rev == 0 || st.Seq != seq:
			return ErrMoved
		case st.Drifted == drifted:
			return nil
		}
		st.Drifted = drifted
		_, ok, err := s.put(ctx, k, st, rev)
		if err != nil {
			return fmt.Errorf("KV %s: %s: mark drifted: %w", Bucket, k, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("KV %s: %s: mark drifted: the entry kept changing", Bucket, k)
}
