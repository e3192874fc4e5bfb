package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/reconcile"
)

// conflictStage resolves a conflict (409, 412, a matching body) by the
// connector's rule when the rule needs the remote record: overwrite reads
// its version and sends ours over it; merge reads it, merges it three
// ways with the last synced record and ours, and sends the result over
// its version; manual, and a merge no prefer rule settles, park it on
// EXTSYNC_CONFLICTS for a person. Overwrite and merge repeat, up to
// max_rounds, if the record moved again. retry and remote-wins are the
// policy's. A conflict a person resolved comes back with their choice.
func (r *Runner) conflictStage(next handler) handler {
	rule := r.cfg.Conflict
	remote, _ := r.conn.(connectors.Remote)
	if rule.Strategy == config.ConflictRetry || rule.Strategy == config.ConflictRemoteWins {
		return next
	}
	prefer := map[string]reconcile.Prefer{}
	for f, fr := range rule.Fields {
		prefer[f] = reconcile.Prefer(fr.Prefer)
	}
	return func(ctx context.Context, j *job) error {
		strategy, pref := rule.Strategy, prefer
		switch j.take {
		case reconcile.TakeLocal:
			strategy = config.ConflictOverwrite
		case reconcile.TakeMerged:
			strategy, pref = config.ConflictMerge, nil // colliding fields: ours, as the person chose
		}
		err := next(ctx, j)
		for round := 0; round < rule.MaxRounds && connectors.Classify(err) == connectors.Conflict; round++ {
			var theirs map[string]any
			var etag string
			if remote != nil {
				var ferr error
				if theirs, etag, ferr = remote.Fetch(ctx, &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt}); ferr != nil {
					return fmt.Errorf("conflict: read the remote record: %w", ferr)
				}
			} else if strategy != config.ConflictManual {
				return err // this kind cannot read the record: the policy retries, then parks
			}
			merged, both := reconcile.Merge(j.base, j.body, theirs, pref)
			switch {
			case strategy == config.ConflictManual, strategy == config.ConflictMerge && len(both) > 0 && j.take == "":
				return r.parkConflict(ctx, j, err, theirs, etag, merged, both)
			case strategy == config.ConflictMerge:
				if len(both) > 0 { // taken merged: ours where both changed
					merged, _ = reconcile.Merge(j.base, j.body, theirs, preferLocal(both))
				}
				j.body = merged
			}
			j.ifMatch = etag
			err = next(ctx, j)
		}
		return err
	}
}

func preferLocal(fields []string) map[string]reconcile.Prefer {
	p := map[string]reconcile.Prefer{}
	for _, f := range fields {
		p[f] = reconcile.PreferLocal
	}
	return p
}

// parkConflict stores both versions for a person and reports the event
// as parked.
func (r *Runner) parkConflict(ctx context.Context, j *job, cause error, theirs map[string]any, etag string,
	merged map[string]any, both []string) error {
	c := &reconcile.Conflict{
		Connector: r.cfg.Name, EventID: j.ev.ID, Entity: j.key, Version: j.ev.Version, Subject: j.subject,
		Error: connectors.AsDeliveryError(cause).Error(), Fields: both, Local: j.body, Remote: theirs,
		Base: j.base, Merged: merged, RemoteETag: etag, Parked: time.Now().UTC(),
		EventBody: j.msg.Data(), EventHeader: j.msg.Headers(),
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := reconcile.Park(pctx, r.js, c, originalSeq(j)); err != nil {
		return connectors.TransientError(0, err)
	}
	return fmt.Errorf("%w: fields %s: %w", reconcile.ErrConflictParked, strings.Join(both, ", "), cause)
}
