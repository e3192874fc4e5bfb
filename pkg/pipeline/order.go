package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/reconcile"
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
	// ReleaseAsync is Release started now and confirmed by Wait.
	ReleaseAsync(connector, entity, v string, seq uint64, synced *reconcile.Synced) reconcile.Pending
	// Stale reports, without claiming, whether v is not newer than what
	// was delivered.
	Stale(ctx context.Context, connector, entity, v string, seq uint64) (bool, error)
}

// entityOrder keeps a versioned entity's deliveries in version order
// across every instance: a job claims its entity in extsync_state before
// it is sent, so an older version is never sent after (or while) a newer
// one is, and releases it with the version delivered. Events without a
// key or version keep the in-process order of the key queue only.
type entityOrder struct {
	claims    entityClaims
	connector string
	// hold bounds a claim: an instance that dies holding one blocks the
	// entity only that long.
	hold time.Duration
	log  *slog.Logger
	// queued says whether another job of the entity waits on this
	// instance: its claim needs the release now, not with the next ack.
	queued func(key string) bool
}

// applies says whether j takes part in cross-instance ordering.
func (o *entityOrder) applies(j *job) bool {
	return o != nil && j.entity.key != "" && j.ev != nil && j.ev.Version != ""
}

// claim takes j's entity, or fails: reconcile.ErrSuperseded for a stale
// version, a transient error when the state cannot be read or written.
func (o *entityOrder) claim(ctx context.Context, j *job) error {
	st, err := o.claims.Acquire(ctx, o.connector, j.entity.key, j.ev.Version, originalSeq(j), o.hold)
	if err != nil {
		if errors.Is(err, reconcile.ErrSuperseded) {
			return err
		}
		return connectors.TransientError(0, fmt.Errorf("entity state: %w", err))
	}
	j.entity.ifMatch, j.entity.base = st.ETag, st.Snapshot
	return nil
}

// release ends j's claim, recording j's version and record when it was
// delivered.
func (o *entityOrder) release(ctx context.Context, j *job, delivered bool) {
	var synced *reconcile.Synced
	if delivered {
		synced = &reconcile.Synced{ETag: j.entity.etag, Snapshot: j.body}
	}
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
	var synced *reconcile.Synced
	if delivered {
		synced = &reconcile.Synced{ETag: j.entity.etag, Snapshot: j.body}
	}
	return o.claims.ReleaseAsync(o.connector, j.entity.key, j.ev.Version, originalSeq(j), synced)
}

// stage claims around the rest of the chain (nil o: ordering none). The
// claim is released with the outcome, by the acker, so the delivery path
// costs the claim's round trip alone; when another job of the entity
// waits behind this one here, the release is made at once instead.
func (o *entityOrder) stage() stage {
	return func(next handler) handler {
		if o == nil {
			return next
		}
		return func(ctx context.Context, j *job) error {
			if !o.applies(j) {
				return next(ctx, j)
			}
			if err := o.claim(ctx, j); err != nil {
				return err
			}
			err := next(ctx, j)
			if o.queued != nil && o.queued(j.entity.key) {
				o.release(ctx, j, err == nil)
			} else {
				j.entity.claimed = true
			}
			return err
		}
	}
}

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
