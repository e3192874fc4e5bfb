package pipeline_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The court API is down for its first requests. The breaker opens; the
// events wait instead of spending their attempts on rejections, the
// system sees a trickle of probes, and once it is back every event is
// delivered: none is dead-lettered for an outage.
func TestOpenBreakerDelaysEventsWithoutBurningAttempts(t *testing.T) {
	var failures atomic.Int64
	var downUntil atomic.Int64 // the outage ends 800 ms after the first request
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		downUntil.CompareAndSwap(0, time.Now().Add(800*time.Millisecond).UnixNano())
		if time.Now().UnixNano() < downUntil.Load() {
			failures.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 4
    ordering: none
    retry: {max_attempts: 4, initial: 20ms, max: 50ms, multiplier: 2, jitter: 0.1}
    circuit_breaker: {failure_ratio: 0.5, min_requests: 4, delay: 100ms}
    http: {url: "%s/workflows/{id}"}
`, s.URL)
	e := newEnv(t)
	e.start(doc, nil)
	const n = 20
	for i := range n {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	e.waitFor("every event settled", func() bool {
		ack, pending := e.pending("court")
		return ack == 0 && pending == 0
	})
	require.Empty(t, e.deadLetters("court"), "an outage delays events; it does not exhaust them")
	seen := map[string]bool{}
	for _, r := range s.requests() {
		seen[r.Path] = true
	}
	require.Len(t, seen, n)
	t.Logf("%d requests failed during the outage, %d in all", failures.Load(), s.count())
	require.LessOrEqual(t, failures.Load(), int64(20), "a trickle of probes during the outage, no storm")
}
