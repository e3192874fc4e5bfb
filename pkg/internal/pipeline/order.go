package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// entityClaims is the shared entity state (extsync_state) as ordering
// uses it; *reconcile.Store implements it.
type entityClaims interface {
	// Acquire claims the entity for version v, or returns
	// reconcile.ErrSuperseded when v is not newer than what was delivered
	// or is being sent.
	Acquire(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (reconcile.State, error)
	// Release ends the claim; synced, when set, records v as delivered.
	Release(ctx context.Context, connector, entity, v string, seq uint64, synced *reconcile.Synced) error
	// AcquireRepair is Acquire that lets the version last delivered
	// through once more.
	AcquireRepair(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration) (reconcile.State, error)
	// AcquireAsync starts a claim when the remembered state allows one
	// without a read; nil otherwise.
	AcquireAsync(connector, entity, v string, seq uint64, hold time.Duration, again bool) reconcile.Claiming
	// Renew takes a claim of this instance's again for a whole hold, or
	// returns reconcile.ErrSuperseded when a newer version overtook it.
	Renew(ctx context.Context, connector, entity, v string, seq uint64, hold time.Duration, again bool) (reconcile.State, error)
	// ReleaseAsync is Release started now and confirmed by Wait.
	ReleaseAsync(connector, entity, v string, seq uint64, synced *reconcile.Synced) reconcile.Pending
	// Stale reports, without claiming or a round trip, whether v is
	// known not to be newer than what was delivered.
	Stale(ctx context.Context, connector, entity, v string, seq uint64) (bool, error)
	// Recall reads the entity's state as it is now.
	Recall(ctx context.Context, connector, entity string) (reconcile.State, error)
}

// entityOrder is a connector's use of the entity state (extsync_state).
//
// With ordering entity it keeps a versioned entity's deliveries in
// version order across every instance: a job claims its entity before it
// is sent, so an older version is never sent after (or while) a newer
// one is, and releases it with the version delivered. Events without a
// key or version keep the in-process order of the key queue only.
//
// It also keeps the record each entity was last delivered with (for
// verify, merges and skip unchanged), and skips an event whose mapped
// record is that one.
type entityOrder struct {
	claims    entityClaims
	connector string
	// hold bounds a claim: an instance that dies holding one blocks the
	// entity only that long.
	hold time.Duration
	// alive is how often a job whose claim waits (for another's claim,
	// for the lease) tells JetStream it is being worked on.
	alive time.Duration
	log   *slog.Logger
	// queued says whether another job of the entity waits on this
	// instance: its claim needs the release now, not with the next ack.
	queued  func(key string) bool
	ordered bool // ordering entity: versioned events claim their entity
	// keep records unversioned events' delivered records too.
	keep bool
	// skip says whether unchanged records are skipped, for versioned
	// events or not (config.Connector.SkipsUnchanged).
	skip func(versioned bool) bool
}

// applies says whether j takes part in cross-instance ordering.
func (o *entityOrder) applies(j *job) bool {
	return o != nil && o.ordered && j.entity.key != "" && j.ev != nil && j.ev.Version != ""
}

// records says whether j's entity state is read and written at all.
func (o *entityOrder) records(j *job) bool {
	return o != nil && j.entity.key != "" && j.ev != nil && (o.keep || o.applies(j))
}

// claim takes j's entity, or fails: reconcile.ErrSuperseded for a stale
// version, a transient error when the state cannot be read or written.
func (o *entityOrder) claim(ctx context.Context, j *job) error {
	acquire := o.claims.Acquire
	if j.route.repair {
		acquire = o.claims.AcquireRepair
	}
	ctx = reconcile.WithKeepAlive(ctx, o.alive, j.keepAlive)
	var st reconcile.State
	var err error
	if c := j.entity.claiming; c != nil {
		j.entity.claiming = nil
		st, err = c.Wait(ctx)
	} else {
		st, err = acquire(ctx, o.connector, j.entity.key, j.ev.Version, originalSeq(j), o.hold)
	}
	return j.entity.took(st, err)
}

// took keeps a claim's outcome: the state it returned, and when; a
// superseded version as it is, any other failure as transient.
func (e *entity) took(st reconcile.State, err error) error {
	if err != nil {
		if errors.Is(err, reconcile.ErrSuperseded) {
			return err
		}
		return connectors.TransientError(0, fmt.Errorf("entity state: %w", err))
	}
	e.remember(st)
	e.claimed = time.Now()
	return nil
}

// renewStage takes j's claim again when the stages between the claim and
// the delivery (the guard: a paced rate, an open breaker) held j for a
// share of the hold: a claim that lapsed meanwhile no longer keeps a newer
// version out, and another instance may have sent one.
func (o *entityOrder) renewStage() stage {
	return func(next handler) handler {
		if o == nil {
			return next
		}
		return func(ctx context.Context, j *job) error {
			if o.applies(j) && !j.entity.claimed.IsZero() && time.Since(j.entity.claimed) > o.hold/renewShare {
				kctx := reconcile.WithKeepAlive(ctx, o.alive, j.keepAlive)
				if err := j.entity.took(o.claims.Renew(kctx, o.connector, j.entity.key, j.ev.Version, originalSeq(j), o.hold, j.route.repair)); err != nil {
					return err
				}
			}
			return next(ctx, j)
		}
	}
}

// A claim is taken again before its delivery once this share of the
// hold has passed since it was taken.
const renewShare = 4

// preclaim starts j's claim as the feeder holds j for the next free
// worker, so the claim's round trip overlaps the delivery before it; the
// worker's claim stage takes it up (and abandonClaim ends it if j never
// gets there).
func (o *entityOrder) preclaim(j *job) {
	if o.applies(j) && j.entity.claiming == nil && j.err == nil {
		j.entity.claiming = o.claims.AcquireAsync(o.connector, j.entity.key, j.ev.Version, originalSeq(j), o.hold, j.route.repair)
	}
}

// recall reads j's entity state without claiming (an unversioned event
// that skip unchanged compares).
func (o *entityOrder) recall(ctx context.Context, j *job) error {
	st, err := o.claims.Recall(ctx, o.connector, j.entity.key)
	if err != nil {
		return connectors.TransientError(0, fmt.Errorf("entity state: %w", err))
	}
	j.entity.remember(st)
	return nil
}

// remember keeps the entity's last sync: If-Match and merge base for
// the next write, none after a deletion (a record put back is new).
func (e *entity) remember(st reconcile.State) {
	e.ifMatch, e.last = st.ETag, st
	if st.Deleted {
		e.ifMatch = ""
	}
}

// base is the record last sent, the base of a merge; nil after a
// deletion or when none was kept.
func (e *entity) base() map[string]any {
	if e.last.Deleted {
		return nil
	}
	return e.last.Record()
}

// unchanged says whether j's mapped record is the one the system last
// confirmed, under the same mapping, and no drift was found since.
// Records are compared as JSON text, so a value is equal only if it
// would be sent the same; when in doubt, the event is sent.
//
// A deletion is unchanged when the last delivery deleted the entity
// too; an update after a deletion never is (it puts the record back).
func unchanged(j *job) bool {
	last := j.entity.last
	if j.delete || last.Deleted {
		return j.delete && last.Deleted && !last.Drifted
	}
	if last.Snapshot == nil || last.Drifted || last.Mapping != j.route.version {
		return false
	}
	a := j.record()
	return a != nil && bytes.Equal(a, last.Snapshot)
}

// release ends j's claim, recording j's version and record when it was
// delivered.
func (o *entityOrder) release(ctx context.Context, j *job, delivered bool) {
	synced := j.synced(delivered)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := o.claims.Release(ctx, o.connector, j.entity.key, j.ev.Version, originalSeq(j), synced); err != nil {
		// The claim lapses by itself. Had the delivery succeeded, an
		// older version still waiting could then be sent once; the
		// sql kind's version column refuses it, other kinds cannot.
		o.log.Warn("entity state not updated", "entity", j.entity.key, "err", err)
	}
}

// releaseAsync starts ending j's claim; the acker confirms it with the
// sync log record, before the ack.
func (o *entityOrder) releaseAsync(j *job, delivered bool) reconcile.Pending {
	return o.claims.ReleaseAsync(o.connector, j.entity.key, j.ev.Version, originalSeq(j), j.synced(delivered))
}

// stage claims around the rest of the chain (nil o: no entity state).
// The claim is released, and the record kept, with the outcome, by the
// acker, so the delivery path costs the claim's round trip alone; when
// another job of the entity waits behind this one here, the release is
// made at once instead.
func (o *entityOrder) stage() stage {
	return func(next handler) handler {
		if o == nil {
			return next
		}
		return func(ctx context.Context, j *job) error {
			if !o.records(j) {
				return next(ctx, j)
			}
			versioned := o.applies(j)
			var err error
			switch {
			case versioned:
				err = o.claim(ctx, j)
			case o.skip(false):
				err = o.recall(ctx, j)
			}
			if err != nil {
				return err
			}
			if o.skip(versioned) && !j.route.repair && unchanged(j) {
				err = fmt.Errorf("%w (version %s)", reconcile.ErrUnchanged, j.ev.Version)
			} else {
				err = next(ctx, j)
			}
			if versioned && o.queued != nil && o.queued(j.entity.key) {
				o.release(ctx, j, sent(err))
			} else {
				j.entity.pending = true
			}
			return err
		}
	}
}

// sent says whether an attempt that ended with err left the system
// holding the job's record: delivered, or found unchanged.
func sent(err error) bool { return err == nil || errors.Is(err, reconcile.ErrUnchanged) }

// staleStage drops, before a batch coalesces it, an event whose entity
// already has a newer version delivered; the batch claims the rest when
// it is sent (see batcher.claimAll).
func (o *entityOrder) staleStage() stage {
	return func(next handler) handler {
		if o == nil {
			return next
		}
		return func(ctx context.Context, j *job) error {
			if !o.applies(j) {
				return next(ctx, j)
			}
			stale, err := o.claims.Stale(ctx, o.connector, j.entity.key, j.ev.Version, originalSeq(j))
			if err != nil {
				return connectors.TransientError(0, fmt.Errorf("entity state: %w", err))
			}
			if stale {
				return fmt.Errorf("%w (version %s)", reconcile.ErrSuperseded, j.ev.Version)
			}
			return next(ctx, j)
		}
	}
}

// originalSeq is the event's sequence in the event stream, also for a
// replayed dead letter.
func originalSeq(j *job) uint64 {
	if j.meta.Stream == deadletter.ReplayStream {
		if s, err := strconv.ParseUint(j.msg.Headers().Get(deadletter.HeaderStreamSeq), 10, 64); err == nil {
			return s
		}
	}
	return j.meta.Sequence.Stream
}
