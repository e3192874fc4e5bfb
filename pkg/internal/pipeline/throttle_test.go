package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/test/syncbuf"
)

func throttledDoc(url, extra string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 8
    ordering: none
    retry: {max_attempts: 5, initial: 50ms, max: 200ms, multiplier: 2, jitter: 0.1}
    http: {url: "%s/workflows/{id}"}
%s`, url, extra)
}

// One 429 with Retry-After: 1 holds every worker for that second, not
// only the refused event; the rate halves; nothing is lost.
func TestRetryAfterPausesTheWholeConnector(t *testing.T) {
	var n atomic.Int64
	var refusedAt atomic.Int64
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 10 {
			refusedAt.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	e := newEnv(t)
	e.start(throttledDoc(s.URL, "    throttle: {max: 100/s}\n"), nil)
	const events = 60
	for i := range events {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	e.waitFor("every event delivered", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
	require.Empty(t, e.deadLetters("court"))
	paths := map[string]bool{}
	at := time.Unix(0, refusedAt.Load())
	for _, r := range s.requests() {
		paths[r.Path] = true
		// Requests already on the wire when the 429 came may land just
		// after it; none may start within the second asked for.
		if d := r.At.Sub(at); d > 250*time.Millisecond && d < 950*time.Millisecond {
			t.Errorf("request %s arrived %s after the Retry-After: 1", r.Path, d)
		}
	}
	require.Len(t, paths, events)
	st := e.p.Status(context.Background())[0]
	require.NotNil(t, st.Throttle)
	require.Less(t, st.Throttle.Rate, 100.0, "halved, recovering by 5/s")
}

// Two replicas with a shared max of 20/s: the system never sees more
// than 20 requests in any second, whichever replica sends them.
func TestReplicasTogetherStayUnderTheSharedRate(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	doc := throttledDoc(s.URL, "    throttle: {max: 20/s}\n")
	e.start(doc, nil)
	second := startPipeline(t, e, doc, "replica-2")
	for _, p := range []*pipeline.Pipeline{e.p, second} {
		e.waitFor("both replicas counted", func() bool {
			st := p.Status(context.Background())[0]
			return st.Throttle != nil && st.Throttle.Replicas == 2
		})
	}
	const events = 50
	for i := range events {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	e.waitFor("every event delivered", func() bool { return s.count() >= events })
	reqs := s.requests()
	for i := range reqs {
		inSecond := 0
		for _, r := range reqs[i:] {
			if r.At.Sub(reqs[i].At) < time.Second {
				inSecond++
			}
		}
		// 20/s shared, plus each replica's one-token burst, plus two for
		// arrival times that a loaded machine bunches after the send.
		require.LessOrEqual(t, inSecond, 24, "requests in the second from %s", reqs[i].At)
	}
	// Over the whole run the rate holds exactly: 50 requests at 20/s
	// after the two bursts take at least 2.4 s.
	require.GreaterOrEqual(t, reqs[len(reqs)-1].At.Sub(reqs[0].At), 2300*time.Millisecond)
}

// startPipeline runs a second pipeline (another replica) on e's server.
func startPipeline(t *testing.T, e *env, doc, instance string) *pipeline.Pipeline {
	file, err := config.Parse("test.yaml", []byte(doc), func(string) (string, bool) { return "", false }, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, pipeline.Options{
		JS: e.js, Stream: "HMS_EVENTS", Kinds: catalog.Default(), Instance: instance,
		Logger: slog.New(slog.DiscardHandler), DrainTimeout: 5 * time.Second,
	}, file.Connectors)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return p
}

// A system down longer than degraded_after makes the connector say so
// (status, log); its events wait, and flow again when it recovers.
func TestLongOutageDegradesAndRecoversByItself(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	var logs syncbuf.Buffer
	e := newEnv(t)
	e.startWith(throttledDoc(s.URL, `    degraded_after: 300ms
    circuit_breaker: {failure_ratio: 0.5, min_requests: 2, delay: 100ms}
`), nil, func(o *pipeline.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for i := range 5 {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	e.waitFor("degraded", func() bool { return e.p.Status(context.Background())[0].Degraded })
	e.waitFor("said in the log", func() bool { return bytes.Contains([]byte(logs.String()), []byte("connector degraded")) })

	down.Store(false)
	e.waitFor("every event delivered", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
	require.False(t, e.p.Status(context.Background())[0].Degraded)
	require.Contains(t, logs.String(), "connector recovered")
	require.Empty(t, e.deadLetters("court"), "an outage delays events; it does not exhaust them")
}
