package batch

import (
	"time"
)

// Clock is time as the batch runner sees it; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Schedule says when batches go out: at a time of day (Hour:Minute,
// midnight when unset) and every Period after it (daily when unset), in
// Loc. {every: 1h} runs on the hour, {at: "02:00"} daily at two,
// {every: 6h, at: "02:00"} at 02:00, 08:00, 14:00 and 20:00. Every
// instance computes the same times.
type Schedule struct {
	Period       time.Duration
	Hour, Minute int
	Loc          *time.Location
}

// Next is the first run strictly after t.
func (s Schedule) Next(t time.Time) time.Time {
	loc := s.Loc
	if loc == nil {
		loc = time.UTC
	}
	period := s.Period
	if period <= 0 {
		period = 24 * time.Hour
	}
	local := t.In(loc)
	// The anchor of the day before: slots are anchor + k*period, and the
	// previous day's anchor keeps k small and non-negative.
	anchor := time.Date(local.Year(), local.Month(), local.Day()-1, s.Hour, s.Minute, 0, 0, loc)
	k := t.Sub(anchor)/period + 1
	return anchor.Add(k * period)
}
