package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// conflictParker stores a conflict for a person (EXTSYNC_CONFLICTS).
type conflictParker interface {
	Park(ctx context.Context, c *reconcile.Conflict, streamSeq uint64) error
}

// conflictStage resolves a conflict (409, 412, a matching body) by the
// connector's rule when the rule needs the remote record: overwrite reads
// its version and sends ours over it; merge reads it, merges it three
// ways with the last synced record and ours, and sends the result over
// its version; manual, and a merge no prefer rule settles, park it for a
// person. Overwrite and merge repeat, up to max_rounds, if the record
// moved again. retry and remote-wins are the policy's. A conflict a
// person resolved comes back with their choice. remote is nil for a kind
// that cannot read records back.
func conflictStage(connector string, rule config.Conflict, remote connectors.Remote, parker conflictParker) stage {
	if rule.Strategy == config.ConflictRetry || rule.Strategy == config.ConflictRemoteWins {
		return func(next handler) handler { return next }
	}
	r := &resolver{connector: connector, rule: rule, remote: remote, parker: parker, prefer: map[string]reconcile.Prefer{}}
	for f, fr := range rule.Fields {
		r.prefer[f] = reconcile.Prefer(fr.Prefer)
	}
	return func(next handler) handler {
		return func(ctx context.Context, j *job) error { return r.resolve(ctx, j, next) }
	}
}

type resolver struct {
	connector string
	rule      config.Conflict
	remote    connectors.Remote
	parker    conflictParker
	prefer    map[string]reconcile.Prefer
}

func (r *resolver) resolve(ctx context.Context, j *job, next handler) error {
	strategy, pref := r.rule.Strategy, r.prefer
	switch j.route.take {
	case reconcile.TakeLocal:
		strategy = config.ConflictOverwrite
	case reconcile.TakeMerged:
		strategy, pref = config.ConflictMerge, nil // colliding fields: ours, as the person chose
	}
	err := next(ctx, j)
	for round := 0; round < r.rule.MaxRounds && connectors.Classify(err) == connectors.Conflict; round++ {
		var theirs map[string]any
		var etag string
		if r.remote != nil {
			var ferr error
			if theirs, etag, ferr = r.remote.Fetch(ctx, &connectors.Delivery{Event: j.ev, Body: j.body, Attempt: j.attempt}); ferr != nil {
				return fmt.Errorf("conflict: read the remote record: %w", ferr)
			}
		} else if strategy != config.ConflictManual {
			return err // this kind cannot read the record: the policy retries, then parks
		}
		base := j.entity.base()
		merged, both := reconcile.Merge(base, j.body, theirs, pref)
		switch {
		case strategy == config.ConflictManual, strategy == config.ConflictMerge && len(both) > 0 && j.route.take == "":
			return r.park(ctx, j, err, theirs, etag, merged, both)
		case strategy == config.ConflictMerge:
			if len(both) > 0 { // taken merged: ours where both changed
				merged, _ = reconcile.Merge(base, j.body, theirs, preferLocal(both))
			}
			j.body = merged
		}
		j.entity.ifMatch = etag
		err = next(ctx, j)
	}
	return err
}

func preferLocal(fields []string) map[string]reconcile.Prefer {
	p := map[string]reconcile.Prefer{}
	for _, f := range fields {
		p[f] = reconcile.PreferLocal
	}
	return p
}

// park stores both versions for a person and reports the event as parked.
func (r *resolver) park(ctx context.Context, j *job, cause error, theirs map[string]any, etag string,
	merged map[string]any, both []string) error {
	c := &reconcile.Conflict{
		Connector: r.connector, EventID: j.ev.ID, Entity: j.entity.key, Version: j.ev.Version, Subject: j.subject,
		Error: connectors.AsDeliveryError(cause).Error(), Fields: both, Local: j.body, Remote: theirs,
		Base: j.entity.base(), Merged: merged, RemoteETag: etag, Parked: time.Now().UTC(),
		EventBody: j.msg.Data(), EventHeader: j.msg.Headers(),
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := r.parker.Park(pctx, c, originalSeq(j)); err != nil {
		return connectors.TransientError(0, err)
	}
	return fmt.Errorf("%w: fields %s: %w", reconcile.ErrConflictParked, strings.Join(both, ", "), cause)
}

// streamConflicts parks conflicts on EXTSYNC_CONFLICTS.
type streamConflicts struct{ js jetstream.JetStream }

func (p streamConflicts) Park(ctx context.Context, c *reconcile.Conflict, seq uint64) error {
	return reconcile.Park(ctx, p.js, c, seq)
}
