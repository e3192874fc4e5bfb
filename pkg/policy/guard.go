package policy

import (
	"context"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
)

// Guard protects one external system: a rate limit on calls and a circuit
// breaker that stops calling a system that keeps failing. A nil *Guard
// lets everything through.
type Guard struct {
	limiter ratelimiter.RateLimiter[any]
	breaker circuitbreaker.CircuitBreaker[any]
}

// NewGuard returns the connector's guard, or nil when it has neither.
func NewGuard(c *config.Connector) *Guard {
	g := &Guard{}
	if !c.RateLimit.IsZero() {
		g.limiter = ratelimiter.NewSmooth[any](uint(c.RateLimit.N), c.RateLimit.Per)
	}
	if b := c.CircuitBreaker; b != nil {
		g.breaker = circuitbreaker.NewBuilder[any]().
			WithFailureRateThreshold(b.FailureRatio, uint(b.MinRequests), time.Minute).
			WithDelay(b.Delay.D()).
			// Half-open lets one probe through, not a burst: a system
			// that is still down sees one request per delay.
			WithSuccessThreshold(1).
			Build()
	}
	if g.limiter == nil && g.breaker == nil {
		return nil
	}
	return g
}

// Acquire waits for the rate limit and asks the breaker for a permit. An
// open breaker yields a transient error whose RetryAfter is the time until
// the breaker lets a probe through.
func (g *Guard) Acquire(ctx context.Context) error {
	if g == nil {
		return nil
	}
	if g.limiter != nil {
		if err := g.limiter.AcquirePermit(ctx); err != nil {
			return connectors.TransientError(0, err)
		}
	}
	if g.breaker != nil && !g.breaker.TryAcquirePermit() {
		de := connectors.TransientError(0, ErrBreakerOpen)
		de.RetryAfter = g.breaker.RemainingDelay()
		return de
	}
	return nil
}

// Record tells the breaker how the call went. Only transient failures
// count against the system: a permanent 4xx or a conflict means it is up.
func (g *Guard) Record(err error) {
	if g == nil || g.breaker == nil {
		return
	}
	if err != nil && connectors.Classify(err) == connectors.Transient {
		g.breaker.RecordFailure()
		return
	}
	g.breaker.RecordSuccess()
}

// BreakerState is "closed", "open", "half-open" or "" without a breaker.
func (g *Guard) BreakerState() string {
	if g == nil || g.breaker == nil {
		return ""
	}
	switch g.breaker.State() {
	case circuitbreaker.OpenState:
		return "open"
	case circuitbreaker.HalfOpenState:
		return "half-open"
	}
	return "closed"
}
