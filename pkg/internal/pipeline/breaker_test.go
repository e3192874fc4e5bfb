package pipeline_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/pipeline"
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
	e := newEnv(t)
	e.start(breakerDoc(s.URL, 4, 4, "100ms"), nil)
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

// The system is down for longer than the ack wait while the breaker holds
// the workers (all but the one probing). Their messages, and those the
// client had already pulled, wait that long; they used to be redelivered
// by JetStream and then sent twice once the system was back. Kept alive,
// each event succeeds exactly once.
func TestOutageLongerThanTheAckWaitSendsNothingTwice(t *testing.T) {
	var up atomic.Bool
	successes := map[string]int{}
	var mu sync.Mutex
	s := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		successes[r.URL.Path]++
		mu.Unlock()
	})
	e := newEnv(t)
	const ackWait = time.Second
	e.startWith(breakerDoc(s.URL, 100, 2, "200ms"), nil, func(o *pipeline.Options) { o.AckWait = ackWait })
	const n = 15 // under the consumer's MaxAckPending: all are pulled
	for i := range n {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	e.waitFor("the breaker open and every event pulled", func() bool {
		_, pending := e.pending("court")
		return pending == 0 && s.count() >= 2
	})
	outage := time.Now()
	e.waitFor("an outage of three ack waits", func() bool { return time.Since(outage) > 3*ackWait })
	up.Store(true)
	e.waitFor("every event settled", func() bool {
		ack, pending := e.pending("court")
		return ack == 0 && pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, successes, n)
	for path, c := range successes {
		require.Equal(t, 1, c, "%s succeeded %d times", path, c)
	}
	require.Empty(t, e.deadLetters("court"))
}

// breakerDoc is a court connector of 4 workers behind a circuit breaker
// that opens at half the requests failing, with short retries.
func breakerDoc(url string, maxAttempts, minRequests int, delay string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 4
    ordering: none
    retry: {max_attempts: %d, initial: 20ms, max: 50ms, multiplier: 2, jitter: 0.1}
    circuit_breaker: {failure_ratio: 0.5, min_requests: %d, delay: %s}
    http: {url: "%s/workflows/{id}"}
`, maxAttempts, minRequests, delay, url)
}
