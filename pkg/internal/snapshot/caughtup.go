package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBehind means the snapshot did not catch up with the event stream in
// time: its writer runs in `extsync serve`, and is either not running or
// still working through a backlog.
var ErrBehind = errors.New("snapshot not caught up with the event stream")

// CaughtUp waits, up to wait, until the snapshot holds every event the
// event stream held when it was called, and returns that stream's last
// sequence S: entries are complete through S, so a consumer starting at
// S+1 misses nothing and a later event still reaches it.
func CaughtUp(ctx context.Context, js jetstream.JetStream, eventStream string, wait time.Duration) (uint64, error) {
	st, err := js.Stream(ctx, eventStream)
	if err != nil {
		return 0, fmt.Errorf("snapshot: stream %s: %w", eventStream, err)
	}
	last := st.CachedInfo().State.LastSeq
	c, err := js.Consumer(ctx, eventStream, Durable)
	if err != nil {
		return 0, fmt.Errorf("snapshot: writer consumer %s: %w", Durable, err)
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("snapshot: writer consumer %s: %w", Durable, err)
		}
		// Everything up to last was delivered and acked: the floor is
		// past it, or nothing is pending any more.
		if info.AckFloor.Stream >= last ||
			(info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= last) {
			return last, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%w after %s: written through event %d of %d (is `extsync serve` running?)",
				ErrBehind, wait, info.AckFloor.Stream, last)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
