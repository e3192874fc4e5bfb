package policy

import (
	"log/slog"
	"sync"
	"time"

	"github.com/hms/extsync/connectors"
)

// Health tells a long outage from a bad moment: a connector is degraded
// once every attempt for DegradedAfter has failed transiently. Nothing is
// switched off: events wait in the stream (or in the breaker's hold) and
// flow again at the first success, which also clears the state.
type Health struct {
	after time.Duration
	log   *slog.Logger

	mu           sync.Mutex
	failingSince time.Time
	said         bool // the degraded warning was logged for this outage
}

// NewHealth tracks one connector; log says when it degrades and recovers.
func NewHealth(after time.Duration, log *slog.Logger) *Health {
	return &Health{after: after, log: log}
}

// Record takes one attempt's result at now.
func (h *Health) Record(err error, now time.Time) {
	failing := err != nil && connectors.Classify(err) == connectors.Transient
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case failing && h.failingSince.IsZero():
		h.failingSince = now
	case failing && !h.said && now.Sub(h.failingSince) >= h.after:
		h.said = true
		h.log.Warn("connector degraded: every attempt has failed; events wait in the stream and resume by themselves when the system recovers",
			"failing_since", h.failingSince, "err", err)
	case !failing && !h.failingSince.IsZero():
		if h.said {
			h.log.Info("connector recovered: deliveries succeed again", "outage", now.Sub(h.failingSince).Round(time.Second))
		}
		h.failingSince, h.said = time.Time{}, false
	}
}

// Degraded reports whether the system has been failing for at least the
// threshold at now, and since when.
func (h *Health) Degraded(now time.Time) (bool, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.failingSince.IsZero() && now.Sub(h.failingSince) >= h.after, h.failingSince
}
