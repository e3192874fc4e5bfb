package reconcile

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Pending is a write under way; Wait confirms it.
type Pending interface {
	Wait(ctx context.Context) error
}

// pendingRelease is a release written but not yet confirmed.
type pendingRelease struct {
	s         *Store
	k         string
	after     State
	fut       jetstream.PubAckFuture // nil when the write could not start
	connector string
	entity, v string
	seq       uint64
	synced    *Synced
}

// ReleaseAsync is Release without waiting: the write of the remembered
// state, compare-and-set on its revision, is published at once, so many
// releases share the round trip; Wait confirms it. A caller that writes
// many at once (the pipeline's acker) keeps the claim's round trip the
// only one on the delivery path.
func (s *Store) ReleaseAsync(connector, entity, v string, seq uint64, synced *Synced) Pending {
	k := key(connector, entity)
	if synced == nil && s.known.unclaimAlone(k, seq) {
		return noWrite{}
	}
	p := &pendingRelease{s: s, k: k, connector: connector, entity: entity, v: v, seq: seq, synced: synced}
	// Not remembered: written as new (compare-and-set on "absent"); if it
	// exists, the write fails and Wait releases the slow way.
	st, rev, _ := s.known.get(k)
	p.after = released(st, v, seq, synced)
	p.fut, _ = s.putAsync(k, &p.after, rev)
	return p
}

// Wait confirms the release; when the fast write lost a race (someone
// wrote the entity since) or could not start, it releases as Release
// does, reading first.
func (p *pendingRelease) Wait(ctx context.Context) error {
	if p.fut != nil {
		select {
		case ack := <-p.fut.Ok():
			p.s.known.set(p.k, p.after, ack.Sequence, false)
			p.s.known.released(p.k)
			return nil
		case err := <-p.fut.Err():
			if !isWrongSequence(err) {
				p.s.known.forget(p.k)
			}
		case <-ctx.Done():
			p.s.known.released(p.k)
			return fmt.Errorf("entity %q: release: %w", p.entity, ctx.Err())
		}
	}
	return p.s.Release(ctx, p.connector, p.entity, p.v, p.seq, p.synced)
}

// noWrite is a release that needed no write.
type noWrite struct{}

func (noWrite) Wait(context.Context) error { return nil }
