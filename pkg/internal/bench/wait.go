package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/hms/extsync/pkg/internal/service"
)

// running is the service's Run in the background.
type running struct {
	done chan struct{}
	err  error
}

func (r *running) start(ctx context.Context, svc *service.Service) {
	go func() {
		defer close(r.done)
		r.err = svc.Run(ctx)
	}()
}

// waitAll waits until every tally is complete. It gives up when ctx ends,
// when the service stops, or when stall passes without a new event.
func waitAll(ctx context.Context, run *running, stall time.Duration, ts ...*tally) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCount, lastMove := -1, time.Now()
	for _, t := range ts {
		for done := false; !done; {
			select {
			case <-t.done:
				done = true
			case <-ctx.Done():
				return ctx.Err()
			case <-run.done:
				return fmt.Errorf("extsync stopped: %v", run.err)
			case <-tick.C:
				n, _ := t.progress()
				if n != lastCount {
					lastCount, lastMove = n, time.Now()
				} else if time.Since(lastMove) > stall {
					return fmt.Errorf("stalled: %d of %d events after %s without progress", n, t.want, stall)
				}
			}
		}
	}
	return nil
}

// settled waits until the connector's consumer has nothing pending: every
// event delivered and acked.
func settled(ctx context.Context, svc *service.Service, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	cons, err := svc.JetStream().Consumer(ctx, streamName, durable)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("consumer %s: %w", durable, err)
			}
			return fmt.Errorf("consumer %s: %d ack pending, %d pending %s after the last delivery",
				durable, info.NumAckPending, info.NumPending, within)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
