package policy

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/throttle"
)

// Guard protects one external system: the adaptive throttle its replicas
// share, a fixed rate limit, and a circuit breaker that stops calling a
// system that keeps failing; and it tracks the connector's health. Each
// part is optional except health.
type Guard struct {
	throttle *throttle.Shared
	limiter  ratelimiter.RateLimiter[any]
	breaker  circuitbreaker.CircuitBreaker[any]
	health   *Health
	log      *slog.Logger
}

// NewGuard returns the connector's guard; thr is its shared throttle, nil
// when the connector has none.
func NewGuard(c *config.Connector, thr *throttle.Shared, log *slog.Logger) *Guard {
	g := &Guard{throttle: thr, health: NewHealth(c.DegradedAfter.D(), log), log: log}
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
	return g
}

// Pace waits for the shared throttle (a Retry-After pause, then this
// replica's share of the rate), calling alive every keepAlive meanwhile.
func (g *Guard) Pace(ctx context.Context, alive func(), keepAlive time.Duration) error {
	if g.throttle == nil {
		return nil
	}
	if err := g.throttle.Wait(ctx, alive, keepAlive); err != nil {
		return connectors.TransientError(0, err)
	}
	return nil
}

// Acquire waits for the rate limit and asks the breaker for a permit. An
// open breaker yields a transient error whose RetryAfter is the time until
// the breaker lets a probe through.
func (g *Guard) Acquire(ctx context.Context) error {
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

// Record tells the breaker, the health and the throttle how the call went.
// Only transient failures count against the system: a permanent 4xx or a
// conflict means it is up. 429, 503 and Retry-After slow every replica.
func (g *Guard) Record(ctx context.Context, err error) {
	g.health.Record(err, time.Now())
	if g.throttle != nil && slowDown(err) {
		if terr := g.throttle.Slow(ctx, connectors.AsDeliveryError(err).RetryAfter); terr != nil {
			g.log.Warn("throttle: slow-down not shared with the other replicas", "err", terr)
		}
	}
	if g.breaker == nil {
		return
	}
	if err != nil && connectors.Classify(err) == connectors.Transient {
		g.breaker.RecordFailure()
		return
	}
	g.breaker.RecordSuccess()
}

// slowDown reports the system asking to be called less.
func slowDown(err error) bool {
	if err == nil {
		return false
	}
	de := connectors.AsDeliveryError(err)
	return de.Status == http.StatusTooManyRequests || de.Status == http.StatusServiceUnavailable || de.RetryAfter > 0
}

// Degraded reports a long outage (see Health) and since when.
func (g *Guard) Degraded(now time.Time) (bool, time.Time) { return g.health.Degraded(now) }

// Throttle reports the shared rate, this replica's share and the replicas
// counted; ok is false without a throttle.
func (g *Guard) Throttle() (shared, mine float64, replicas int, ok bool) {
	if g.throttle == nil {
		return 0, 0, 0, false
	}
	shared, mine, replicas = g.throttle.Limit()
	return shared, mine, replicas, true
}

// BreakerState is "closed", "open", "half-open" or "" without a breaker.
func (g *Guard) BreakerState() string {
	if g.breaker == nil {
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
