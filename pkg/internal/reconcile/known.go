package reconcile

import (
	"strings"
	"sync"
)

// known remembers, per entity key, the state and revision this instance
// last read or wrote, and whether a claim of its own awaits release.
//
// Trusting it is safe: a recorded version only grows, so a version the
// remembered state already supersedes stays superseded; a claim or a
// write from it is a compare-and-set on the remembered revision, which
// fails (and is retried after a fresh read) if anyone wrote since.
type known struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	st  State
	rev uint64
	// releasing is closed when this instance's claim on the entity is
	// released; nil when it holds none.
	releasing chan struct{}
	// alone is the lease of a claim taken without a write (st holds it
	// here only); its release ends it there too.
	alone *Lease
}

// maxKnown bounds the memory (an entry holds the entity's last record as
// JSON text, about the size of the event's data): past it, entries without a
// pending claim are forgotten, and cost one read when next seen.
const maxKnown = 1 << 14

func (k *known) get(key string) (State, uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[key]
	if !ok {
		return State{}, 0, false
	}
	return e.st, e.rev, true
}

// set remembers st at rev; claimed marks a claim of ours pending release.
func (k *known) set(key string, st State, rev uint64, claimed bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*entry{}
	}
	if len(k.m) >= maxKnown {
		k.trim()
	}
	e := k.m[key]
	if e == nil {
		e = &entry{}
		k.m[key] = e
	}
	e.st, e.rev = st, rev
	if claimed && e.releasing == nil {
		e.releasing = make(chan struct{})
	}
}

// claimAlone remembers claimed at rev as this instance's claim, taken
// without a write under lease l, if key is still remembered at rev with
// no claim of its own pending.
func (k *known) claimAlone(key string, claimed State, rev uint64, l *Lease) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.m[key]
	if e == nil { // just read, not yet remembered: the read is the truth
		if k.m == nil {
			k.m = map[string]*entry{}
		}
		if len(k.m) >= maxKnown {
			k.trim()
		}
		e = &entry{rev: rev}
		k.m[key] = e
	}
	if e.rev != rev || e.releasing != nil {
		return false
	}
	e.st, e.releasing, e.alone = claimed, make(chan struct{}), l
	return true
}

// unclaimAlone ends a claim on key for seq taken without a write, and
// reports whether there was one: nothing was written, so its end needs
// no write either.
func (k *known) unclaimAlone(key string, seq uint64) bool {
	k.mu.Lock()
	e := k.m[key]
	if !e.aloneFor(seq) {
		k.mu.Unlock()
		return false
	}
	e.st.Claim = nil
	k.mu.Unlock()
	k.released(key)
	return true
}

// aloneFor says whether e holds this instance's claim for seq, taken
// without a write.
func (e *entry) aloneFor(seq uint64) bool {
	return e != nil && e.alone != nil && e.st.Claim != nil && e.st.Claim.Seq == seq
}

// claimedAlone is key's remembered state, without its claim, when this
// instance claimed it for seq without a write.
func (k *known) claimedAlone(key string, seq uint64) (State, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.m[key]
	if !e.aloneFor(seq) {
		return State{}, false
	}
	st := e.st
	st.Claim = nil
	return st, true
}

// released says this instance's claim on key is released (or lapsed).
func (k *known) released(key string) {
	k.mu.Lock()
	e := k.m[key]
	var alone *Lease
	if e != nil && e.releasing != nil {
		close(e.releasing)
		e.releasing, alone, e.alone = nil, e.alone, nil
	}
	k.mu.Unlock()
	if alone != nil {
		alone.end()
	}
}

// forgetPrefix forgets every key with prefix but those with a claim of
// this instance's pending.
func (k *known) forgetPrefix(prefix string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, e := range k.m {
		if e.releasing == nil && strings.HasPrefix(key, prefix) {
			delete(k.m, key)
		}
	}
}

// forget drops what is remembered of key: the next use reads it.
func (k *known) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.m[key]; e != nil && e.releasing == nil {
		delete(k.m, key)
	}
}

// releasing is closed when this instance's claim on key is released;
// nil when it holds none.
func (k *known) releasing(key string) <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e := k.m[key]; e != nil && e.releasing != nil {
		return e.releasing
	}
	return nil
}

func (k *known) trim() {
	for key, e := range k.m {
		if e.releasing == nil {
			delete(k.m, key)
		}
	}
}
