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
func (s *Store) Acquire(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (State, error) {
	k := key(connector, entity)
	for {
		st, rev, err := s.get(ctx, k)
		if err != nil {
			return st, fmt.Errorf("entity %q: %w", entity, err)
		}
		if st.Version != "" && !newer(v, seq, st.Version, st.Seq) {
			return st, ErrSuperseded
		}
		if c := st.Claim; c != nil && time.Now().Before(c.Until) && !(c.Seq == seq) {
			if !newer(v, seq, c.Version, c.Seq) {
				return st, ErrSuperseded
			}
			if err := s.waitChange(ctx, k, rev, time.Until(c.Until)); err != nil {
				return st, err
			}
			continue
		}
		st.Claim = &Claim{Version: v, Seq: seq, Until: time.Now().Add(hold)}
		ok, err := s.put(ctx, k, st, rev)
		if err != nil {
			return st, fmt.Errorf("entity %q: claim: %w", entity, err)
		}
		if ok {
			st.Claim = nil
			return st, nil
		}
	}
}

// Release ends the claim for seq: a delivery (synced set) records v as
// the entity's last version with the synced record; otherwise the entity
// is left as it was, for a retry or a newer version.
func (s *Store) Release(ctx context.Context, connector, entity, v string, seq uint64, synced *Synced) error {
	delivered := synced != nil
	k := key(connector, entity)
	for {
		st, rev, err := s.get(ctx, k)
		if err != nil {
			return fmt.Errorf("entity %q: %w", entity, err)
		}
		if st.Claim != nil && st.Claim.Seq == seq {
			st.Claim = nil
		}
		if delivered && (st.Version == "" || newer(v, seq, st.Version, st.Seq)) {
			st.Version, st.Seq, st.ETag, st.Snapshot = v, seq, synced.ETag, synced.Snapshot
		}
		ok, err := s.put(ctx, k, st, rev)
		if err != nil {
			return fmt.Errorf("entity %q: release: %w", entity, err)
		}
		if ok {
			return nil
		}
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
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case e := <-w.Updates():
			if e != nil && e.Revision() > rev {
				return nil
			}
		}
	}
}

// Stale reports whether version v (stream seq) of connector's entity is
// not newer than the version last delivered, without claiming anything:
// a cheap early check for events that wait (a batch) before they are
// claimed and sent.
func (s *Store) Stale(ctx context.Context, connector, entity, v string, seq uint64) (bool, error) {
	st, _, err := s.get(ctx, key(connector, entity))
	if err != nil {
		return false, fmt.Errorf("entity %q: %w", entity, err)
	}
	return st.Version != "" && !newer(v, seq, st.Version, st.Seq), nil
}
