package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/internal/policy"
)

// guardStage applies the connector's shared throttle, rate limit and
// circuit breaker. While the breaker is open the job waits here, its
// message kept alive, rather than going back to JetStream: a rejection by
// an open breaker is not an attempt, so an outage delays events instead of
// burning their attempts, and with every worker waiting no more are
// pulled. When the breaker lets a probe through, one job goes; the rest
// wait again.
func guardStage(g *policy.Guard, ackWait time.Duration) stage {
	return func(next handler) handler {
		return func(ctx context.Context, j *job) error {
			if err := g.Pace(ctx, j.keepAlive, ackWait/3); err != nil {
				return err
			}
			for {
				err := g.Acquire(ctx)
				if err == nil {
					break
				}
				if !errors.Is(err, policy.ErrBreakerOpen) || !hold(ctx, j, connectors.AsDeliveryError(err).RetryAfter, ackWait) {
					return err
				}
			}
			err := next(ctx, j)
			g.Record(ctx, err)
			return err
		}
	}
}

// hold waits d (at least a moment), telling JetStream the message is
// being worked on whenever a third of the ack wait has passed since it
// last heard; false when ctx ended first. The keep-alive is measured from
// the job's last touch, not from this call: the breaker's delay is often
// shorter than a third of the ack wait, so a timer started per call might
// never fire while the job waits out several delays in a row.
func hold(ctx context.Context, j *job, d, ackWait time.Duration) bool {
	wait := time.NewTimer(max(d, 50*time.Millisecond))
	defer wait.Stop()
	keep := max(ackWait/3, 10*time.Millisecond)
	for {
		due := keep - time.Since(j.life.touched)
		if due <= 0 {
			j.keepAlive()
			continue
		}
		alive := time.NewTimer(due)
		select {
		case <-ctx.Done():
			alive.Stop()
			return false
		case <-wait.C:
			alive.Stop()
			return true
		case <-alive.C:
		}
	}
}
