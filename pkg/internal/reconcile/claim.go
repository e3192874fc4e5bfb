package reconcile

import (
	"context"
	"fmt"
	"time"
)

// Acquire claims connector's entity for sending version v (stream seq),
// for at most hold. It returns ErrSuperseded when that version or a newer
// one was delivered or is being sent, and waits while an older version is
// being sent elsewhere (until it finishes or its claim lapses).
// It returns the entity's state as it was, for the conditional write.
//
// With the entity's state remembered from this instance's last write,
// the claim is one compare-and-set; it reads first only when that fails,
// or when the remembered state shows another sender's claim.
func (s *Store) Acquire(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (State, error) {
	return s.acquire(ctx, nil, connector, entity, v, seq, hold, false)
}

// AcquireRepair is Acquire for sending the version last delivered once
// more (a repair after the system lost or changed it): that very version
// (same v and seq) is not superseded; an older one still is.
func (s *Store) AcquireRepair(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (State, error) {
	return s.acquire(ctx, nil, connector, entity, v, seq, hold, true)
}

// Renew takes connector's entity again, for a whole hold from now, for
// version v (seq) that this instance claimed a while ago and has not yet
// sent: a claim that lapsed while its event waited (for a paced rate, an
// open breaker) no longer keeps a newer version out, and may have been
// taken over. It returns ErrSuperseded when a newer version was sent or
// claimed since. again is AcquireRepair's.
func (s *Store) Renew(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration, again bool) (State, error) {
	return s.acquire(ctx, nil, connector, entity, v, seq, hold, again)
}

// acquire claims through lease l (nil: none): without a write while this
// instance sends alone and knows the entity's state.
func (s *Store) acquire(ctx context.Context, l *Lease, connector, entity, v string, seq uint64, hold time.Duration, again bool) (State, error) {
	if err := l.await(ctx); err != nil {
		return State{}, fmt.Errorf("entity %q: %w", entity, err)
	}
	k := key(connector, entity)
	st, rev, trusted := s.known.get(k)
	if !trusted && l.sendsAlone() { // a read, not a claim written to learn it
		var err error
		if st, rev, err = s.get(ctx, k); err != nil {
			return st, fmt.Errorf("entity %q: %w", entity, err)
		}
		trusted = true
	}
	fresh := !trusted // not remembered: try it as absent; Create fails if it exists
	for {
		same := again && v == st.Version && seq == st.Seq
		if st.Version != "" && !newer(v, seq, st.Version, st.Seq) && !same {
			return st, ErrSuperseded // versions only grow: true of any state read
		}
		if c := st.Claim; c != nil && c.Seq != seq {
			mine := s.known.releasing(k) // the claim is this instance's own
			if !fresh && mine == nil {   // another's may be long released: look first
				var err error
				if st, rev, err = s.get(ctx, k); err != nil {
					return st, fmt.Errorf("entity %q: %w", entity, err)
				}
				fresh, trusted = true, true
				continue
			}
			// A lapsed claim orders too: its sender may have been answered
			// and died (or stalled) before its release, so its version may
			// be the system's. Its event, never acked, comes again.
			if !newer(v, seq, c.Version, c.Seq) {
				return st, ErrSuperseded
			}
			if time.Now().Before(c.Until) {
				var err error
				if st, rev, err = s.awaitClaim(ctx, k, rev, c, mine); err != nil {
					return st, fmt.Errorf("entity %q: %w", entity, err)
				}
				fresh, trusted = true, true
				continue
			}
			// Lapsed, and older than v: taken over.
		}
		claimed := st
		claimed.Claim = &Claim{Version: v, Seq: seq, Until: time.Now().Add(hold)}
		if trusted && s.claimAlone(l, k, claimed, rev) {
			st.Claim = nil
			return st, nil
		}
		if !l.mayClaim() {
			return st, fmt.Errorf("entity %q: %w", entity, ErrLeaseWait)
		}
		next, ok, err := s.put(ctx, k, claimed, rev)
		if err != nil {
			return st, fmt.Errorf("entity %q: claim: %w", entity, err)
		}
		if ok {
			s.known.set(k, claimed, next, true)
			st.Claim = nil
			return st, nil
		}
		if st, rev, err = s.get(ctx, k); err != nil {
			return st, fmt.Errorf("entity %q: %w", entity, err)
		}
		fresh, trusted = true, true
	}
}

// claimAlone claims k (remembered at rev) without a write when this
// instance sends alone: only the remembered state says it is claimed,
// until the release writes.
func (s *Store) claimAlone(l *Lease, k string, claimed State, rev uint64) bool {
	if !l.alone() {
		return false
	}
	if !s.known.claimAlone(k, claimed, rev, l) {
		l.end()
		return false
	}
	return true
}

// Release ends the claim for seq: a delivery (synced set) records v as
// the entity's last version with the synced record; otherwise the entity
// is left as it was, for a retry or a newer version.
func (s *Store) Release(ctx context.Context, connector, entity, v string, seq uint64, synced *Synced) error {
	k := key(connector, entity)
	if synced == nil && s.known.unclaimAlone(k, seq) {
		return nil
	}
	defer s.known.released(k)
	st, rev, ok := s.known.get(k)
	for {
		if !ok {
			var err error
			if st, rev, err = s.get(ctx, k); err != nil {
				return fmt.Errorf("entity %q: %w", entity, err)
			}
		}
		after := released(st, v, seq, synced)
		next, done, err := s.put(ctx, k, after, rev)
		if err != nil {
			s.known.forget(k)
			return fmt.Errorf("entity %q: release: %w", entity, err)
		}
		if done {
			s.known.set(k, after, next, false)
			return nil
		}
		ok = false
	}
}

// released is st once the claim for seq ends, with v recorded when it
// was delivered (synced set) and newer than what st holds.
//
// An unversioned event (v "") records its record only, in stream order,
// and leaves the entity's version as it was.
func released(st State, v string, seq uint64, synced *Synced) State {
	if st.Claim != nil && st.Claim.Seq == seq {
		st.Claim = nil
	}
	switch {
	case synced == nil:
	case v == "":
		if seq >= st.Seq {
			st.Seq = seq
			st = synced.onto(st)
		}
	case st.Version == "" || newer(v, seq, st.Version, st.Seq):
		st.Version, st.Seq = v, seq
		st = synced.onto(st)
	case v == st.Version && seq == st.Seq:
		// The same version sent again (a repair, see AcquireRepair): the
		// system's record is the one sent, as it answered now.
		st = synced.onto(st)
	}
	return st
}

// onto is st holding the delivered record, found in step again.
func (s *Synced) onto(st State) State {
	st.ETag, st.Snapshot, st.Mapping, st.Deleted, st.Drifted = s.ETag, s.Snapshot, s.Mapping, s.Deleted, false
	return st
}

// Recall reads connector's entity's state as it is now, for a decision
// (skip unchanged) that a remembered state could get wrong.
func (s *Store) Recall(ctx context.Context, connector, entity string) (State, error) {
	k := key(connector, entity)
	st, rev, err := s.get(ctx, k)
	if err != nil {
		return st, fmt.Errorf("entity %q: %w", entity, err)
	}
	if rev != 0 {
		s.known.set(k, st, rev, false)
	}
	return st, nil
}

// awaitClaim waits until claim c on key k ends (released, or lapsed at
// its Until) and returns the state then. A claim of this instance's own
// (mine) ends when its release is confirmed, with no watch needed.
func (s *Store) awaitClaim(ctx context.Context, k string, rev uint64, c *Claim, mine <-chan struct{}) (State, uint64, error) {
	if mine == nil {
		if err := s.waitChange(ctx, k, rev, time.Until(c.Until)); err != nil {
			return State{}, 0, err
		}
		return s.get(ctx, k)
	}
	t := time.NewTimer(time.Until(c.Until))
	defer t.Stop()
	tick, keep, stop := keepAlive(ctx)
	defer stop()
	for {
		select {
		case <-mine:
			if st, rev, ok := s.known.get(k); ok {
				return st, rev, nil
			}
		case <-t.C:
		case <-tick:
			keep()
			continue
		case <-ctx.Done():
			return State{}, 0, ctx.Err()
		}
		return s.get(ctx, k)
	}
}

// waitChange returns when key k moves past rev, or after at most d.
func (s *Store) waitChange(ctx context.Context, k string, rev uint64, d time.Duration) error {
	w, err := s.kv.Watch(ctx, k)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	timer := time.NewTimer(max(d, time.Millisecond))
	defer timer.Stop()
	tick, keep, stop := keepAlive(ctx)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case <-tick:
			keep()
		case e := <-w.Updates():
			if e != nil && e.Revision() > rev {
				return nil
			}
		}
	}
}

// Stale reports whether version v (stream seq) of connector's entity is
// not newer than the version last delivered, as this instance knows it,
// without a round trip: an early drop for events that wait (a batch)
// before they are claimed, which is what guarantees the order. An entity
// it does not know is not stale. (Known versions only grow, so a stale
// answer is always right.)
func (s *Store) Stale(_ context.Context, connector, entity, v string, seq uint64) (bool, error) {
	st, _, ok := s.known.get(key(connector, entity))
	return ok && st.Version != "" && !newer(v, seq, st.Version, st.Seq), nil
}
