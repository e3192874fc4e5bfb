package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// DefaultSeedWait is how long a new connector with `start: snapshot`
// waits for the snapshot writer to catch up with the event stream.
const DefaultSeedWait = 30 * time.Second

// seed sends a connector that starts from the snapshot, and has no
// consumer yet, the newest entry of each of its entities through its
// replay subject, and returns where its event consumer starts: just
// after the last event those entries include. An existing consumer is
// not seeded again (0: keep its position); a connector whose key path
// the snapshot holds no entries for starts from the stream's history (0
// too: a new consumer delivers all). A crash between the seed and
// the consumer's creation seeds again at the next start; ordering then
// supersedes what was already delivered.
func (r *Runner) seed(ctx context.Context, o *Options) (uint64, error) {
	_, err := o.JS.Consumer(ctx, o.Stream, r.cfg.Durable())
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("consumer %s: %w", r.cfg.Durable(), err)
	}
	wait := o.SeedWait
	if wait <= 0 {
		wait = DefaultSeedWait
	}
	through, err := snapshot.CaughtUp(ctx, o.JS, o.Stream, wait)
	if err != nil {
		return 0, fmt.Errorf("start: snapshot: %w", err)
	}
	spec := snapshot.SpecOf(r.cfg)
	if spec.Token() != snapshot.DefaultSpec.Token() {
		held, err := snapshot.Holds(ctx, o.JS, spec)
		if err != nil {
			return 0, fmt.Errorf("start: snapshot: %w", err)
		}
		if !held {
			o.Logger.Info("the snapshot holds no entity read with this key path yet: starting from the stream's history instead",
				"connector", r.cfg.Name, "key", spec.Key)
			return 0, nil
		}
	}
	began := time.Now()
	sent, err := snapshot.Send(ctx, o.JS, snapshot.Sending{Connector: r.cfg.Name,
		Query: snapshot.Query{Spec: spec, Subjects: r.cfg.Subjects}, Skip: r.deletion(o.Stream)})
	if err != nil {
		return 0, fmt.Errorf("start: snapshot: %w", err)
	}
	o.Logger.Info("seeded from the snapshot", "connector", r.cfg.Name, "entities", sent.Sent,
		"deleted_left_out", sent.Entities-sent.Sent,
		"through_seq", through, "took", time.Since(began).Round(time.Millisecond))
	return through + 1, nil
}

// deletion says whether a snapshot entry is the deletion of its entity:
// a new system never held the entity, so a seed leaves it out (a resync
// sends it, for a system restored from a backup that still holds it).
func (r *Runner) deletion(stream string) func(snapshot.Entry) bool {
	return func(e snapshot.Entry) bool {
		ev, err := event.Decode(event.Message{Subject: e.Subject, Stream: stream, Seq: e.Seq, Header: e.Header, Body: e.Data},
			r.decoder.opts)
		return err == nil && r.cfg.Deletes(ev)
	}
}
