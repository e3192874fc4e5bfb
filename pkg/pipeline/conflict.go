package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/reconcile"
)

// conflictStage resolves a conflict (409, 412, a matching body) by the
// connector's rule when the rule needs the remote record: overwrite reads
// its version and sends ours over it; merge reads it, merges it three
// ways with the last synced record and ours, and sends the result over
// its version. Each repeats, up to max_rounds, if the record moved again
// in between. The other rules (retry, remote-wins) are the policy's.
func (r *Runner) conflictStage(next handler) handler {
	rule := r.cfg.Conflict
	remote, ok := r.conn.(connectors.Remote)
	if !ok || (rule.Strategy != config.ConflictOverwrite && rule.Strategy != config.ConflictMerge) {
		return next
	}
	prefer := map[string]reconcile.Prefer{}
	for f, fr := range rule.Fields {
		prefer[f] = reconcile.Prefer(fr.Prefer)
	}
	return func(ctx context.Context, j *job) error {
		err := next(ctx, j)
		for round := 0; round < rule.MaxRounds && connectors.Classify(err) == connectors.Conflict; round++ {
			theirs, etag, ferr := remote.Fetch(ctx, &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt})
			if ferr != nil {
				return fmt.Errorf("conflict: read the remote record: %w", ferr)
			}
			if rule.Strategy == config.ConflictMerge {
				merged, both := reconcile.Merge(j.base, j.body, theirs, prefer)
				if len(both) > 0 {
					return connectors.PermanentError(connectors.AsDeliveryError(err).Status, fmt.Errorf(
						"conflict: both sides changed %s and no conflict.fields prefer rule decides: %w",
						strings.Join(both, ", "), err))
				}
				j.body = merged
			}
			j.ifMatch = etag
			err = next(ctx, j)
		}
		return err
	}
}
