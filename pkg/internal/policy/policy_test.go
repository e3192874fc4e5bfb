package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		// r = 0.5 is the midpoint: no jitter.
		{n: 1, r: 0.5, want: time.Second},
		{n: 2, r: 0.5, want: 2 * time.Second},
		{n: 3, r: 0.5, want: 4 * time.Second},
		{n: 4, r: 0.5, want: 8 * time.Second},
		{n: 5, r: 0.5, want: 10 * time.Second}, // 16s capped
		{n: 50, r: 0.5, want: 10 * time.Second},
		{n: 5000, r: 0.5, want: 10 * time.Second}, // 2^4999 overflows to +Inf
		{n: 0, r: 0.5, want: time.Second},         // treated as the first attempt
		{n: -3, r: 0.5, want: time.Second},
		// r = 0 and r = 1 are the ends of the ±20% band.
		{n: 1, r: 0, want: 800 * time.Millisecond},
		{n: 1, r: 1, want: 1200 * time.Millisecond},
		{n: 3, r: 0, want: 3200 * time.Millisecond},
		{n: 3, r: 1, want: 4800 * time.Millisecond},
		{n: 9, r: 0, want: 8 * time.Second},
		{n: 9, r: 1, want: 10 * time.Second}, // Max is a hard ceiling, jitter included
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d,r=%v", tt.n, tt.r), func(t *testing.T) {
			require.InDelta(t, float64(tt.want), float64(b.delay(tt.n, tt.r)), float64(time.Microsecond))
		})
	}
}

func TestBackoffGrowsByMultiplier(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Hour, Multiplier: 3}
	prev := b.delay(1, 0.5)
	require.Equal(t, 100*time.Millisecond, prev)
	for n := 2; n <= 8; n++ {
		d := b.delay(n, 0.5)
		require.InDelta(t, 3*float64(prev), float64(d), float64(time.Microsecond), "attempt %d", n)
		prev = d
	}
}

func TestBackoffJitterStaysInBand(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.3}
	for n := 1; n <= 10; n++ {
		mid := b.delay(n, 0.5)
		lo, hi := time.Duration(float64(mid)*0.7), time.Duration(float64(mid)*1.3)
		for range 200 {
			d := b.Delay(n)
			require.GreaterOrEqual(t, d, lo-time.Microsecond, "attempt %d", n)
			require.LessOrEqual(t, d, hi+time.Microsecond, "attempt %d", n)
		}
	}
	// Without jitter the delay is exact.
	b.Jitter = 0
	require.Equal(t, 4*time.Second, b.Delay(3))
}

func connector(mutate func(c *config.Connector)) *config.Connector {
	c := &config.Connector{
		Name: "c",
		Retry: config.Retry{
			MaxAttempts: 5,
			Initial:     config.Duration(time.Second),
			Max:         config.Duration(time.Minute),
			Multiplier:  2,
			Jitter:      0.2,
		},
		Conflict: config.Conflict{Strategy: config.ConflictRetry},
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func TestFromConfig(t *testing.T) {
	p := FromConfig(connector(func(c *config.Connector) { c.Conflict.Strategy = config.ConflictMerge }))
	require.Equal(t, Policy{
		Backoff:     Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.2},
		MaxAttempts: 5,
		Conflict:    config.ConflictMerge,
	}, p)
}

func TestDecide(t *testing.T) {
	boom := errors.New("boom")
	transient := connectors.TransientError(503, boom)
	slow := &connectors.DeliveryError{Class: connectors.Transient, Status: 429, RetryAfter: 5 * time.Minute, Err: boom}
	conflict := connectors.ConflictError(409, boom)
	tests := []struct {
		name     string
		strategy string
		err      error
		attempt  int
		want     Decision
		// minDelay, maxDelay bound Delay when Action is Retry.
		minDelay, maxDelay time.Duration
	}{
		{name: "success", err: nil, attempt: 1, want: Decision{Action: Ack, Outcome: OutcomeDelivered}},
		{name: "success on the last attempt", err: nil, attempt: 5, want: Decision{Action: Ack, Outcome: OutcomeDelivered}},
		{
			name: "permanent at attempt 1", err: connectors.PermanentError(400, boom), attempt: 1,
			want: Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusPermanent},
		},
		{
			name: "wrapped permanent", err: fmt.Errorf("deliver: %w", connectors.PermanentError(422, boom)), attempt: 2,
			want: Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusPermanent},
		},
		{
			name: "transient below max", err: transient, attempt: 1,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 800 * time.Millisecond, maxDelay: 1200 * time.Millisecond,
		},
		{
			name: "transient at attempt 3", err: transient, attempt: 3,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 3200 * time.Millisecond, maxDelay: 4800 * time.Millisecond,
		},
		{
			name: "Retry-After longer than the backoff wins", err: slow, attempt: 1,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 5 * time.Minute, maxDelay: 5 * time.Minute,
		},
		{
			name: "backoff longer than Retry-After wins",
			err:  &connectors.DeliveryError{Class: connectors.Transient, RetryAfter: time.Millisecond, Err: boom}, attempt: 4,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 6400 * time.Millisecond, maxDelay: 9600 * time.Millisecond,
		},
		{
			name: "transient at max", err: transient, attempt: 5,
			want: Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusExhausted},
		},
		{
			name: "transient past max", err: transient, attempt: 9,
			want: Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusExhausted},
		},
		{
			name: "conflict with remote-wins", strategy: config.ConflictRemoteWins, err: conflict, attempt: 1,
			want: Decision{Action: Ack, Outcome: OutcomeConflictSkipped},
		},
		{
			name: "conflict with remote-wins at max", strategy: config.ConflictRemoteWins, err: conflict, attempt: 5,
			want: Decision{Action: Ack, Outcome: OutcomeConflictSkipped},
		},
		{
			name: "conflict with retry", strategy: config.ConflictRetry, err: conflict, attempt: 2,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 1600 * time.Millisecond, maxDelay: 2400 * time.Millisecond,
		},
		{
			name: "conflict with retry at max", strategy: config.ConflictRetry, err: conflict, attempt: 5,
			want: Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusExhausted},
		},
		{
			name: "unclassified error", err: boom, attempt: 1,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 800 * time.Millisecond, maxDelay: 1200 * time.Millisecond,
		},
		{
			name: "context deadline", err: context.DeadlineExceeded, attempt: 2,
			want:     Decision{Action: Retry, Outcome: OutcomeRetry},
			minDelay: 1600 * time.Millisecond, maxDelay: 2400 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := FromConfig(connector(func(c *config.Connector) {
				if tt.strategy != "" {
					c.Conflict.Strategy = tt.strategy
				}
			}))
			got := p.Decide(tt.err, tt.attempt)
			require.Equal(t, tt.want.Action, got.Action)
			require.Equal(t, tt.want.Outcome, got.Outcome)
			require.Equal(t, tt.want.Status, got.Status)
			if got.Action != Retry {
				require.Zero(t, got.Delay)
				return
			}
			require.GreaterOrEqual(t, got.Delay, tt.minDelay)
			require.LessOrEqual(t, got.Delay, tt.maxDelay)
		})
	}
}

func TestGuardWithoutRateOrBreakerLetsEverythingThrough(t *testing.T) {
	g := newGuard(connector(nil))
	for range 50 {
		require.NoError(t, g.Acquire(context.Background()))
		g.Record(context.Background(), connectors.TransientError(503, errors.New("down")))
	}
	require.Equal(t, "", g.BreakerState())
	_, _, _, ok := g.Throttle()
	require.False(t, ok)
}

func newGuard(c *config.Connector) *Guard {
	return NewGuard(c, nil, slog.New(slog.DiscardHandler))
}

func breakerConnector() *config.Connector {
	return connector(func(c *config.Connector) {
		c.CircuitBreaker = &config.Breaker{FailureRatio: 0.5, MinRequests: 2, Delay: config.Duration(time.Minute)}
	})
}

func TestGuardBreakerOpensOnTransientFailures(t *testing.T) {
	g := newGuard(breakerConnector())
	require.NotNil(t, g)
	require.Equal(t, "closed", g.BreakerState())
	ctx := context.Background()

	for range 2 {
		require.NoError(t, g.Acquire(ctx))
		g.Record(context.Background(), connectors.TransientError(503, errors.New("down")))
	}
	require.Equal(t, "open", g.BreakerState())

	err := g.Acquire(ctx)
	require.Error(t, err)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.ErrorIs(t, err, ErrBreakerOpen)
	var de *connectors.DeliveryError
	require.ErrorAs(t, err, &de)
	require.Positive(t, de.RetryAfter)
	require.LessOrEqual(t, de.RetryAfter, time.Minute)
}

func TestGuardBreakerCountsUnclassifiedErrorsAsFailures(t *testing.T) {
	g := newGuard(breakerConnector())
	g.Record(context.Background(), errors.New("connection reset"))
	g.Record(context.Background(), errors.New("connection reset"))
	require.Equal(t, "open", g.BreakerState())
}

func TestGuardBreakerIgnoresPermanentAndConflict(t *testing.T) {
	g := newGuard(breakerConnector())
	ctx := context.Background()
	for _, err := range []error{
		connectors.PermanentError(400, errors.New("bad")),
		connectors.PermanentError(404, errors.New("gone")),
		connectors.ConflictError(409, errors.New("overlap")),
		nil,
		connectors.PermanentError(422, errors.New("bad")),
	} {
		require.NoError(t, g.Acquire(ctx))
		g.Record(context.Background(), err)
	}
	require.Equal(t, "closed", g.BreakerState())
	require.NoError(t, g.Acquire(ctx))
}

func TestGuardBreakerStaysClosedBelowRatio(t *testing.T) {
	g := newGuard(breakerConnector())
	// 1 failure in 3 is below 0.5 (a ratio of exactly 0.5 opens it).
	g.Record(context.Background(), nil)
	g.Record(context.Background(), nil)
	g.Record(context.Background(), connectors.TransientError(503, errors.New("down")))
	require.Equal(t, "closed", g.BreakerState())
	require.NoError(t, g.Acquire(context.Background()))
}

func TestGuardRateLimit(t *testing.T) {
	g := newGuard(connector(func(c *config.Connector) { c.RateLimit = config.Rate{N: 1, Per: time.Hour} }))
	require.NotNil(t, g)
	require.Equal(t, "", g.BreakerState())

	require.NoError(t, g.Acquire(context.Background()))
	// The next permit is an hour away: a cancelled wait ends as transient.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.Acquire(ctx)
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.ErrorIs(t, err, context.Canceled)
}

// Skipping an event on purpose is the policy's decision too.
func TestDecideAcksSupersededAndParkedWithTheirOwnOutcome(t *testing.T) {
	p := Policy{MaxAttempts: 3, Backoff: Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2}}
	d := p.Decide(fmt.Errorf("batch: %w", reconcile.ErrSuperseded), 1)
	require.Equal(t, Decision{Action: Ack, Outcome: OutcomeSuperseded}, d)
	d = p.Decide(fmt.Errorf("%w: fields a: 409", reconcile.ErrConflictParked), 1)
	require.Equal(t, Decision{Action: Ack, Outcome: OutcomeConflictParked}, d)
}

// A batch is sent again whole in-process: a retry holds its messages,
// and a stopping instance hands them back.
func TestDecideBatchHoldsOrHandsBack(t *testing.T) {
	p := Policy{MaxAttempts: 3, Backoff: Backoff{Initial: time.Second, Max: time.Minute, Multiplier: 2}}
	down := connectors.TransientError(503, errors.New("down"))
	d := p.DecideBatch(down, 1, false)
	require.Equal(t, Hold, d.Action)
	require.Equal(t, time.Second, d.Delay)
	require.Equal(t, HandBack, p.DecideBatch(down, 1, true).Action)
	require.Equal(t, DeadLetter, p.DecideBatch(down, 3, false).Action, "attempts exhausted")
	require.Equal(t, Ack, p.DecideBatch(nil, 1, true).Action)
}
