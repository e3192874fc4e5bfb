package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/reconcile"
)

// orderStage keeps a versioned entity's deliveries in version order
// across every instance: it claims the entity in extsync_state before
// sending, so an older version is never sent after (or while) a newer one
// is, and records the version delivered. Events without a key or version
// keep the in-process order of the key queue only.
func (r *Runner) orderStage(next handler) handler {
	return func(ctx context.Context, j *job) error {
		if r.state == nil || j.key == "" || j.ev.Version == "" {
			return next(ctx, j)
		}
		seq := originalSeq(j)
		hold := r.conn.Timeout() + 10*time.Second
		st, err := r.state.Acquire(ctx, r.cfg.Name, j.key, j.ev.Version, seq, hold)
		if err != nil {
			if errors.Is(err, reconcile.ErrSuperseded) {
				return err
			}
			return connectors.TransientError(0, fmt.Errorf("entity state: %w", err))
		}
		j.ifMatch, j.base = st.ETag, st.Snapshot
		err = next(ctx, j)
		var synced *reconcile.Synced
		if err == nil {
			synced = &reconcile.Synced{ETag: j.etag, Snapshot: j.body}
		}
		relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := r.state.Release(relCtx, r.cfg.Name, j.key, j.ev.Version, seq, synced); rerr != nil {
			// The claim lapses by itself. Had the delivery succeeded, an
			// older version still waiting could then be sent once; the
			// sql kind's version column refuses it, other kinds cannot.
			r.log.Warn("entity state not updated", "entity", j.key, "err", rerr)
		}
		return err
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
