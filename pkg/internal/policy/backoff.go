package policy

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff computes exponential delays with jitter.
//
// failsafe-go's retry policy keeps its delay state inside an in-process
// retry loop; extsync's retries are broker redeliveries, possibly on another
// instance, so the delay must be a pure function of the attempt number.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	// Jitter spreads each delay by ±Jitter of itself, so retries of many
	// events failed by one outage do not return all at once.
	Jitter float64
}

// Delay returns the wait before the attempt after failed attempt n (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	return b.delay(n, rand.Float64()) // #nosec G404 -- jitter only spreads retries; nothing secret depends on it
}

func (b Backoff) delay(n int, r float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(n-1))
	if d > float64(b.Max) || math.IsInf(d, 0) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d += d * b.Jitter * (2*r - 1)
	}
	return time.Duration(min(d, float64(b.Max))) // Max is a hard ceiling, jitter included
}
