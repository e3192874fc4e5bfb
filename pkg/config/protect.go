package config

import (
	"fmt"
	"time"
)

// Throttle configures adaptive throttling: the connector's request rate,
// shared by every replica, halves when the system answers 429 or 503 (or
// sends Retry-After) and recovers by Increase each second.
type Throttle struct {
	// Max is the rate all replicas together start at and recover to.
	Max Rate `yaml:"max"`
	// Min is the floor: a struggling system still gets a trickle.
	Min Rate `yaml:"min"`
	// Increase is added to the rate each second without a slow-down
	// (as N/s; default a twentieth of Max, so 20 s from half to full).
	Increase Rate `yaml:"increase"`
	// Decrease multiplies the rate on a slow-down (default 0.5).
	Decrease float64 `yaml:"decrease"`
}

// PerSecond is the rate in events per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.N) / r.Per.Seconds()
}

func (t *Throttle) setDefaults() {
	if t.Min.IsZero() {
		t.Min = Rate{N: 1, Per: time.Second}
	}
	if t.Increase.IsZero() {
		t.Increase = Rate{N: max(1, int(t.Max.PerSecond()/20)), Per: time.Second}
	}
	if t.Decrease == 0 {
		t.Decrease = 0.5
	}
}

func (t *Throttle) validate() []fieldErr {
	var errs []fieldErr
	if t.Max.IsZero() {
		errs = append(errs, fieldErr{"throttle.max", "is required: the rate all replicas together may reach, e.g. 200/s"})
	} else if t.Min.PerSecond() > t.Max.PerSecond() {
		errs = append(errs, fieldErr{"throttle.min", fmt.Sprintf("%v/s is above throttle.max (%v/s)", t.Min.PerSecond(), t.Max.PerSecond())})
	}
	if t.Decrease <= 0 || t.Decrease >= 1 {
		errs = append(errs, fieldErr{"throttle.decrease", fmt.Sprintf("%v is out of range (0, 1)", t.Decrease)})
	}
	return errs
}
