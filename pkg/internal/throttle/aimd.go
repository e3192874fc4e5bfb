package throttle

import "time"

// Params is the additive-increase, multiplicative-decrease rule. Rates
// are events per second for all replicas together.
type Params struct {
	Max, Min float64
	// Increase is added to the rate for every second without a slow-down.
	Increase float64
	// Decrease multiplies the rate on a slow-down (0 < Decrease < 1).
	Decrease float64
	// Cooldown makes a burst of refusals from one overload count once:
	// every request in flight when the system pushes back answers 429.
	Cooldown time.Duration
}

// State is the record replicas share.
type State struct {
	// Rate was the rate at At, the time of the last decrease.
	Rate float64   `json:"rate"`
	At   time.Time `json:"at"`
	// PauseUntil is the latest Retry-After asked for: nobody sends before.
	PauseUntil time.Time `json:"pause_until,omitzero"`
}

// Rate is the shared rate at now: back at Max when no slow-down was ever
// recorded, else recovering linearly from the last decrease.
func (p Params) Rate(s State, now time.Time) float64 {
	if s.At.IsZero() {
		return p.Max
	}
	r := s.Rate + p.Increase*max(now.Sub(s.At).Seconds(), 0)
	return min(max(r, p.Min), p.Max)
}

// slowed is s after a slow-down signal at now, and whether it changed.
func (p Params) slowed(s State, now time.Time, retryAfter time.Duration) (State, bool) {
	changed := false
	if s.At.IsZero() || now.Sub(s.At) >= p.Cooldown {
		s.Rate, s.At = max(p.Min, p.Rate(s, now)*p.Decrease), now
		changed = true
	}
	if until := now.Add(retryAfter); retryAfter > 0 && until.After(s.PauseUntil) {
		s.PauseUntil = until
		changed = true
	}
	return s, changed
}
