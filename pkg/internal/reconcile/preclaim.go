package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Claiming is a claim started by AcquireAsync and not yet confirmed.
type Claiming interface {
	// Wait returns what Acquire would have: the state as it was, or
	// ErrSuperseded, or an error. When the write lost a race it claims
	// the slow way, as Acquire does.
	Wait(ctx context.Context) (State, error)
	// Abandon ends the claim unused: its event was handed back or failed
	// before it was sent.
	Abandon(ctx context.Context)
}

// AcquireAsync starts Acquire's compare-and-set without waiting for it,
// so the claim's round trip overlaps whatever the caller does before it
// needs the claim (a worker finishing the job before). It does so only
// when the remembered state shows nothing in the way (no claim, an older
// version) and returns nil otherwise: Acquire then decides, reading or
// waiting as it must. again is AcquireRepair's.
func (s *Store) AcquireAsync(connector, entity, v string, seq uint64, hold time.Duration, again bool) Claiming {
	return s.acquireAsync(nil, connector, entity, v, seq, hold, again)
}

func (s *Store) acquireAsync(l *Lease, connector, entity, v string, seq uint64, hold time.Duration, again bool) Claiming {
	k := key(connector, entity)
	st, rev, remembered := s.known.get(k) // not remembered: written as new, refused if it exists
	same := again && v == st.Version && seq == st.Seq
	if st.Claim != nil || (st.Version != "" && !newer(v, seq, st.Version, st.Seq) && !same) {
		return nil
	}
	claimed := st
	claimed.Claim = &Claim{Version: v, Seq: seq, Until: time.Now().Add(hold)}
	asked := claimAsked{connector: connector, entity: entity, v: v, seq: seq, hold: hold, again: again}
	if remembered && s.claimAlone(l, k, claimed, rev) {
		return &claimedAlone{l: l, k: k, st: st, claimAsked: asked}
	}
	if !l.mayClaim() {
		return nil // Acquire waits
	}
	fut, err := s.putAsync(k, &claimed, rev)
	if err != nil {
		return nil
	}
	return &claiming{s: s, l: l, k: k, st: st, claimed: claimed, fut: fut, started: time.Now(), claimAsked: asked}
}

// claimAsked is what a claim taken ahead was asked for: enough to claim
// the slow way, as Acquire does, when the quick way did not hold.
type claimAsked struct {
	connector string
	entity, v string
	seq       uint64
	hold      time.Duration
	again     bool
}

func (a claimAsked) acquire(ctx context.Context, s *Store, l *Lease) (State, error) {
	return s.acquire(ctx, l, a.connector, a.entity, a.v, a.seq, a.hold, a.again)
}

// A claim taken ahead is taken again, for a whole hold, when its job
// waited this share of the hold for a worker: a claim that lapses while
// its event is still being sent no longer keeps a newer version out.
const refreshShare = 4

type claiming struct {
	s           *Store
	l           *Lease
	k           string
	st, claimed State
	fut         jetstream.PubAckFuture
	started     time.Time
	claimAsked
}

func (c *claiming) Wait(ctx context.Context) (State, error) {
	select {
	case ack := <-c.fut.Ok():
		c.s.known.set(c.k, c.claimed, ack.Sequence, true)
		if time.Since(c.started) > c.hold/refreshShare {
			return c.acquire(ctx, c.s, c.l) // its own claim, renewed
		}
		st := c.st
		st.Claim = nil
		return st, nil
	case err := <-c.fut.Err():
		if isWrongSequence(err) { // written since it was remembered
			return c.acquire(ctx, c.s, c.l)
		}
		return c.st, fmt.Errorf("entity %q: claim: %w", c.entity, err)
	case <-ctx.Done():
		// Whether it was written is unknown: a claim of this event's own
		// seq does not stand in its way when it comes back.
		return c.st, fmt.Errorf("entity %q: claim: %w", c.entity, ctx.Err())
	}
}

func (c *claiming) Abandon(ctx context.Context) {
	select {
	case ack := <-c.fut.Ok():
		c.s.known.set(c.k, c.claimed, ack.Sequence, true)
		_ = c.s.Release(ctx, c.connector, c.entity, c.v, c.seq, nil) // else it lapses at its Until
	case <-c.fut.Err(): // not claimed: nothing to end
	case <-ctx.Done():
	}
}

// claimedAlone is a claim taken without a write (see Lease).
type claimedAlone struct {
	l  *Lease
	k  string
	st State
	claimAsked
}

// Wait gives the claim to the worker, unless the instance stopped
// sending alone while the job waited: then it claims as Acquire does.
func (c *claimedAlone) Wait(ctx context.Context) (State, error) {
	if c.l.stillAlone() {
		return c.st, nil
	}
	c.Abandon(ctx)
	return c.acquire(ctx, c.l.Store, c.l)
}

func (c *claimedAlone) Abandon(context.Context) { c.l.known.unclaimAlone(c.k, c.seq) }
