package deadletter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/synclog"
)

// Action is an operator's replay or purge, as the CLI and the admin API
// run it.
type Action struct {
	Filter Filter
	// Every paces a replay (0: stream speed).
	Every time.Duration
	// Actor is who asked, for the audit record in the sync log.
	Actor    string
	Progress func(done, total int)
	// Published is told of each replay published (Replayer.Published).
	Published func(published, total int)
	// Mapping is MappingOriginal or MappingCurrent ("": current).
	Mapping string
}

// PlanReplay returns what a replay of f would send, after the checks the
// replay itself makes: every id names a dead letter (ErrNotFound), every
// connector still runs (ErrNoConnector). A dry run shows it.
func PlanReplay(ctx context.Context, js jetstream.JetStream, f Filter) ([]Entry, error) {
	entries, err := Select(ctx, js, f)
	if err != nil {
		return nil, err
	}
	return entries, CheckConnectors(ctx, js, entries)
}

// RunReplay checks the selection (PlanReplay), replays it through its
// connectors and records who did it. Nothing is sent when a check fails.
func RunReplay(ctx context.Context, js jetstream.JetStream, a Action) (Result, error) {
	selected := time.Now()
	entries, err := PlanReplay(ctx, js, a.Filter)
	if err != nil || len(entries) == 0 {
		return Result{}, err
	}
	r := NewReplayer(js)
	r.Every, r.Progress, r.Published, r.Actor = a.Every, a.Progress, a.Published, a.Actor
	r.Prefix, r.Selected = a.Filter.prefix(), selected
	res, err := r.Run(ctx, ReplayItems(entries, a.Mapping))
	aerr := audit(ctx, js, res.Replayed, a.Actor, "dlq replay")
	if err != nil {
		return res, fmt.Errorf("replayed %d of %d: %w", res.Sent(), len(entries), err)
	}
	return res, aerr
}

// ReplaySelected is RunReplay for callers that need only how many were
// sent.
func ReplaySelected(ctx context.Context, js jetstream.JetStream, a Action) (int, error) {
	res, err := RunReplay(ctx, js, a)
	return res.Sent(), err
}

// PurgeSelected deletes the selection and records who did it.
func PurgeSelected(ctx context.Context, js jetstream.JetStream, a Action) (int, error) {
	gone, err := Purge(ctx, js, a.Filter)
	aerr := audit(ctx, js, gone, a.Actor, "dlq purge")
	n := 0
	for _, c := range gone {
		n += c
	}
	return n, errors.Join(err, aerr)
}

// audit writes one admin record per connector touched, also after an
// interrupted action: what was done is recorded.
func audit(ctx context.Context, js jetstream.JetStream, counts map[string]int, actor, action string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for connector, n := range counts {
		if n == 0 {
			continue
		}
		if err := synclog.Audit(ctx, js, connector, actor, action, n); err != nil {
			errs = append(errs, fmt.Errorf("%s of %d for %s done but not recorded in the sync log: %w", action, n, connector, err))
		}
	}
	return errors.Join(errs...)
}
