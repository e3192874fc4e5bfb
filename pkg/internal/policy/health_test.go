package policy

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func TestHealthDegradesAfterALongOutageAndRecoversAtTheFirstSuccess(t *testing.T) {
	var logs bytes.Buffer
	h := NewHealth(time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	down := connectors.TransientError(503, errors.New("court down"))

	h.Record(down, t0)
	h.Record(down, t0.Add(30*time.Second))
	degraded, _ := h.Degraded(t0.Add(59 * time.Second))
	require.False(t, degraded, "a bad minute is not yet an outage")
	degraded, since := h.Degraded(t0.Add(time.Minute))
	require.True(t, degraded, "degraded without waiting for another attempt (the breaker may hold them)")
	require.Equal(t, t0, since)
	h.Record(down, t0.Add(2*time.Minute))
	require.Contains(t, logs.String(), "connector degraded")

	h.Record(nil, t0.Add(3*time.Minute))
	degraded, _ = h.Degraded(t0.Add(3 * time.Minute))
	require.False(t, degraded)
	require.Contains(t, logs.String(), "connector recovered")
	require.Contains(t, logs.String(), "outage=3m0s")
}

func TestHealthIgnoresRefusalsThatProveTheSystemIsUp(t *testing.T) {
	h := NewHealth(time.Second, slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	h.Record(connectors.TransientError(503, errors.New("down")), t0)
	h.Record(connectors.PermanentError(422, errors.New("bad record")), t0.Add(time.Second))
	h.Record(connectors.ConflictError(409, errors.New("overlap")), t0.Add(2*time.Second))
	degraded, _ := h.Degraded(t0.Add(time.Hour))
	require.False(t, degraded, "a 422 or 409 is an answer: the system is up")
}
