package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// A connector's instances keep one record in the bucket, the lease: who
// is running (each renews its membership every leaseBeat; one not
// renewed for leaseTTL is gone) and which of them, when it runs alone,
// sends alone. The sender alone claims nothing: nobody else sends the
// connector's versioned events, so its own in-process order is the order,
// and each event costs the release's write only.
const (
	leaseBeat = time.Second
	leaseTTL  = 3 * leaseBeat
	// leaseSkew is how much later than its own clock says another
	// instance's membership counts as lapsed: clocks differ a little.
	leaseSkew = time.Second
)

// ErrLeaseWait says this instance may not claim for now: another sends
// alone and has not yet stepped down, or this instance's membership
// could not be renewed. The event is tried again later.
var ErrLeaseWait = errors.New("another instance sends this connector's events alone, or this instance's membership lapsed")

// leaseKey cannot name an entity: connector names have no "_".
func leaseKey(connector string) string { return "_lease." + connector }

type leaseRecord struct {
	// Holder is the member sending alone; "" when the members claim.
	Holder  string               `json:"holder,omitempty"`
	Members map[string]time.Time `json:"members,omitempty"` // → until
}

type leaseMode int

const (
	modeWaiting  leaseMode = iota // another sends alone (or no beat yet)
	modeShared                    // every member claims
	modeAlone                     // this one sends alone: no claims
	modeStepping                  // claims again; the claimless ones still finishing
)

// Lease is one connector's membership on this instance, and its use of
// the entity state: Acquire and AcquireAsync go through it. Run keeps it.
type Lease struct {
	*Store
	connector, self string
	// hold bounds one delivery: a member that lapsed while sending alone
	// may still be sending for that long.
	hold time.Duration
	log  *slog.Logger

	mu       sync.Mutex
	mode     leaseMode
	valid    time.Time     // the membership holds until then
	inflight int           // claimless claims not yet released
	changed  chan struct{} // closed (and replaced) when mode or valid change
	kick     chan struct{} // the last claimless claim ended while stepping down
}

// Lease returns connector's membership for the instance named instance;
// nothing is read or written until Run. hold is the connector's claim
// hold: how long a delivery may last.
func (s *Store) Lease(connector, instance string, hold time.Duration, log *slog.Logger) *Lease {
	return &Lease{Store: s, connector: connector, self: instance + "/" + uuid.NewString()[:8],
		hold: hold, log: log, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Run renews the membership until ctx ends, then withdraws it (and the
// sending alone: call it after the connector's deliveries are settled).
func (l *Lease) Run(ctx context.Context) {
	t := time.NewTicker(leaseBeat)
	defer t.Stop()
	failing := false
	for {
		err := l.beat(ctx, false)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			l.log.Warn("ordering lease not renewed; versioned events wait until it is", "err", err)
		case err == nil && failing:
			l.log.Info("ordering lease renewed")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			leave, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = l.beat(leave, true)
			cancel()
			return
		case <-t.C:
		case <-l.kick:
		}
	}
}

// beat renews the membership (leaving: withdraws it) and moves the
// sending alone as the members allow, by compare-and-set on the record.
func (l *Lease) beat(ctx context.Context, leaving bool) error {
	k := leaseKey(l.connector)
	for {
		now := time.Now()
		rec, rev, err := l.read(ctx, k)
		if err != nil {
			return err
		}
		next, alone := l.decide(rec, now, leaving)
		b, _ := json.Marshal(next)
		if rev == 0 {
			_, err = l.kv.Create(ctx, k, b)
		} else {
			_, err = l.kv.Update(ctx, k, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lease %s: %w", k, err)
		}
		if !leaving {
			l.apply(next, now, alone)
		}
		return nil
	}
}

func (l *Lease) read(ctx context.Context, k string) (leaseRecord, uint64, error) {
	var rec leaseRecord
	e, err := l.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return rec, 0, nil
	}
	if err != nil {
		return rec, 0, fmt.Errorf("lease %s: %w", k, err)
	}
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return rec, 0, fmt.Errorf("lease %s: %w", k, err)
	}
	return rec, e.Revision(), nil
}

// decide is the record after this beat at now, and whether this member
// is the only one running.
func (l *Lease) decide(rec leaseRecord, now time.Time, leaving bool) (leaseRecord, bool) {
	next := leaseRecord{Holder: rec.Holder, Members: maps.Clone(rec.Members)}
	if next.Members == nil {
		next.Members = map[string]time.Time{}
	}
	alone := true
	for m, until := range next.Members {
		switch {
		case m == l.self:
		case m == next.Holder && now.Before(until.Add(l.hold+leaseSkew)):
			alone = false // it may still be sending: its claimless deliveries outlast its membership
		case now.Before(until.Add(leaseSkew)):
			alone = false
		default:
			delete(next.Members, m)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !leaving:
		next.Members[l.self] = now.Add(leaseTTL)
	case next.Holder != l.self || l.inflight == 0:
		delete(next.Members, l.self)
		// else: a delivery cut short by the drain may yet reach the
		// system; the others wait for it as for a vanished member.
	}
	switch {
	case next.Holder == l.self && (!alone || leaving || l.mode == modeStepping):
		if l.mode == modeAlone {
			l.setMode(modeStepping) // claims from now on; the claimless ones finish first
		}
		if l.inflight == 0 {
			next.Holder = ""
		}
	case next.Holder != l.self && next.Holder != "" && !holds(next, next.Holder):
		next.Holder = "" // lapsed long enough ago that nothing it sent can still be under way
		fallthrough
	case next.Holder == "":
		if alone && !leaving {
			next.Holder = l.self
		}
	}
	return next, alone
}

// holds says whether member m's membership is in the record.
func holds(rec leaseRecord, m string) bool { _, ok := rec.Members[m]; return ok }

// apply takes up the record written at now.
func (l *Lease) apply(rec leaseRecord, now time.Time, alone bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mode := modeShared
	switch {
	case rec.Holder == l.self && alone && l.mode != modeStepping:
		mode = modeAlone
	case rec.Holder == l.self:
		mode = modeStepping
	case rec.Holder != "":
		mode = modeWaiting
	}
	if mode == modeAlone && (l.mode != modeAlone || !now.Before(l.valid)) {
		// What was remembered may be older than what the others wrote
		// before they left (or while this membership had lapsed);
		// sending alone trusts what is remembered.
		l.known.forgetPrefix(l.connector + ".")
	}
	l.valid = now.Add(leaseTTL - leaseBeat)
	l.setMode(mode)
}

// setMode changes the mode and wakes the claims waiting for it; l.mu held.
func (l *Lease) setMode(m leaseMode) {
	l.mode = m
	close(l.changed)
	l.changed = make(chan struct{})
}

// await returns once this instance may claim: its membership holds and
// no other member sends alone. It gives up with ErrLeaseWait after the
// longest wait for a member that vanished while sending alone.
func (l *Lease) await(ctx context.Context) error {
	if l == nil {
		return nil
	}
	var timeout, tick <-chan time.Time
	keep := func() {}
	for {
		ok, changed := l.claimable()
		if ok {
			return nil
		}
		if timeout == nil {
			t := time.NewTimer(leaseTTL + l.hold + leaseSkew + leaseBeat)
			defer t.Stop()
			timeout = t.C
			var stop func()
			tick, keep, stop = keepAlive(ctx)
			defer stop()
		}
		select {
		case <-changed: // every beat
		case <-tick:
			keep()
		case <-timeout:
			return ErrLeaseWait
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// alone starts a claimless claim when this instance sends alone; end
// must follow once its release is written (or given up).
func (l *Lease) alone() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mode != modeAlone || !time.Now().Before(l.valid) {
		return false
	}
	l.inflight++
	return true
}

// end is a claimless claim's release.
func (l *Lease) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if l.inflight == 0 && l.mode == modeStepping {
		select {
		case l.kick <- struct{}{}: // step down now, not at the next beat
		default:
		}
	}
}

// mayClaim says whether a claim may be written now: the membership
// holds, and no other member sends alone.
func (l *Lease) mayClaim() bool {
	if l == nil {
		return true
	}
	ok, _ := l.claimable()
	return ok
}

// claimable is mayClaim, and the channel closed when that may change.
func (l *Lease) claimable() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode != modeWaiting && time.Now().Before(l.valid), l.changed
}

// State is how this instance orders the connector's versioned events
// now: "alone" (it is the only instance: no claims), "claims" (with
// other instances), or "waiting" (for another to stop sending alone, or
// for its own membership to be renewed).
func (l *Lease) State() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.mode == modeWaiting || !time.Now().Before(l.valid):
		return "waiting"
	case l.mode == modeAlone:
		return "alone"
	}
	return "claims"
}

func (l *Lease) sendsAlone() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode == modeAlone && time.Now().Before(l.valid)
}

// stillAlone says whether a claimless claim taken earlier may still be
// sent on: the others wait for it until the membership lapses.
func (l *Lease) stillAlone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return (l.mode == modeAlone || l.mode == modeStepping) && time.Now().Before(l.valid)
}

// Acquire is Store.Acquire through the lease: claimless while this
// instance sends alone; waiting while another does.
func (l *Lease) Acquire(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (State, error) {
	return l.Store.acquire(ctx, l, connector, entity, v, seq, hold, false)
}

// AcquireRepair is Store.AcquireRepair through the lease.
func (l *Lease) AcquireRepair(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (State, error) {
	return l.Store.acquire(ctx, l, connector, entity, v, seq, hold, true)
}

// Renew is Store.Renew through the lease: nothing to renew for a claim
// made without a write while this instance still sends alone.
func (l *Lease) Renew(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration, again bool) (State, error) {
	k := key(connector, entity)
	if st, ok := l.known.claimedAlone(k, seq); ok && l.stillAlone() {
		return st, nil
	}
	return l.Store.acquire(ctx, l, connector, entity, v, seq, hold, again)
}

// AcquireAsync is Store.AcquireAsync through the lease.
func (l *Lease) AcquireAsync(connector, entity, v string, seq uint64, hold time.Duration, again bool) Claiming {
	return l.Store.acquireAsync(l, connector, entity, v, seq, hold, again)
}
