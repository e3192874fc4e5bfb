package reconcile

import (
	"context"
	"time"
)

// A claim can wait a while: for another instance's claim to end, for the
// lease. Its caller's message must not look abandoned meanwhile, or
// JetStream delivers it again while it still waits.

type keepKey struct{}

type keeper struct {
	every time.Duration
	fn    func()
}

// WithKeepAlive returns ctx carrying fn, which a claim made with it calls
// every interval while it waits (in the claim's own goroutine).
func WithKeepAlive(ctx context.Context, every time.Duration, fn func()) context.Context {
	if every <= 0 || fn == nil {
		return ctx
	}
	return context.WithValue(ctx, keepKey{}, keeper{every: every, fn: fn})
}

// keepAlive returns a channel that ticks while a wait goes on, and what
// to call on each tick; a nil channel when ctx carries no keeper. stop
// ends the ticks.
func keepAlive(ctx context.Context) (tick <-chan time.Time, fn func(), stop func()) {
	k, ok := ctx.Value(keepKey{}).(keeper)
	if !ok {
		return nil, func() {}, func() {}
	}
	t := time.NewTicker(k.every)
	return t.C, k.fn, t.Stop
}
