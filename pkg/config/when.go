package config

import (
	"fmt"
	"time"
)

// ParseTime reads a time filter an operator gives (--since, ?since=):
// RFC 3339, or a duration meaning that long before now ("2h"). Empty is
// the zero time: no bound.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago; give it without a sign", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a time such as 2026-11-23T08:00:00Z or a duration such as 2h", v)
	}
	return t, nil
}
