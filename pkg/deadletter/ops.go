package deadletter

import (
	"context"
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
	// Mapping is MappingOriginal or MappingCurrent ("": current).
	Mapping string
}

// ReplaySelected checks that every connector of the selection still runs,
// replays the selection through those connectors and records who did it.
// Nothing is sent when a check fails.
func ReplaySelected(ctx context.Context, js jetstream.JetStream, a Action) (int, error) {
	entries, err := Collect(ctx, js, a.Filter)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	if err := CheckConnectors(ctx, js, entries); err != nil {
		return 0, err
	}
	r := NewReplayer(js)
	r.Every, r.Progress = a.Every, a.Progress
	n, err := r.Replay(ctx, ReplayItems(entries, a.Mapping))
	aerr := audit(ctx, js, entries[:n], a.Actor, "dlq replay")
	if err != nil {
		return n, fmt.Errorf("replayed %d of %d (the rest stay parked): %w", n, len(entries), err)
	}
	return n, aerr
}

// PurgeSelected deletes the selection and records who did it.
func PurgeSelected(ctx context.Context, js jetstream.JetStream, a Action) (int, error) {
	gone, err := Purge(ctx, js, a.Filter)
	if aerr := audit(ctx, js, gone, a.Actor, "dlq purge"); err == nil {
		err = aerr
	}
	return len(gone), err
}

// audit writes one admin record per connector touched.
func audit(ctx context.Context, js jetstream.JetStream, entries []Entry, actor, action string) error {
	counts := map[string]int{}
	for _, e := range entries {
		counts[e.Connector]++
	}
	for connector, n := range counts {
		if err := synclog.Audit(ctx, js, connector, actor, action, n); err != nil {
			return fmt.Errorf("%s of %d for %s done but not recorded in the sync log: %w", action, n, connector, err)
		}
	}
	return nil
}
