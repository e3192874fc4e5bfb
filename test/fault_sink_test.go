//go:build fault

package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// sinkDoc is the connector every sink fault runs: breaker, throttle and
// retries as an agency would set them, with short delays for the test.
func sinkDoc(url, extra string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 16
    ordering: none
    retry: {max_attempts: 8, initial: 200ms, max: 3s, multiplier: 2, jitter: 0.2}
    circuit_breaker: {failure_ratio: 0.5, min_requests: 10, delay: 2s}
    http: {url: "%s/workflows/{id}", timeout: 1s}
%s`, url, extra)
}

// runSinkFault publishes n events through serve to a sink that
// misbehaves, and reports what arrived.
// The note's %d is the requests answered with the fault, plus counted.
// during, when set, runs once the events are published, with serve's
// environment, while the fault goes on.
func runSinkFault(t *testing.T, row faultRow, n int, within time.Duration, extra string, during func(env []string),
	misbehave func(n int, w http.ResponseWriter, r *http.Request) bool, counted ...*atomic.Int64) *faultSink {
	sink := newFaultSink(misbehave)
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	env, serve, js := faultServe(t, sinkDoc(srv.URL, extra))
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)
	if during != nil {
		during(env)
	}
	row.Published = n
	row.Delivered, row.Duplicated, row.DeadLettered = settleAll(t, js, sink, serve, n, within)
	row.Lost = n - row.Delivered - row.DeadLettered
	_, _, faults := sink.counts()
	for _, c := range counted {
		faults += int(c.Load())
	}
	row.Note = fmt.Sprintf(row.Note, faults)
	reportFault(t, row)
	return sink
}

func TestFault500StormFor30s(t *testing.T) {
	t.Parallel()
	var start atomic.Int64
	sink := runSinkFault(t, faultRow{Fault: "system answers 500 for 30 s",
		Injection: "sink returns 500 to every request for 30 s from the first",
		Note:      "%d requests refused in 30 s: the breaker's probes, no retry storm; degraded raised"}, 2000, 3*time.Minute,
		"    degraded_after: 5s\n", func(env []string) {
			require.Eventually(t, func() bool {
				return degradedRE.MatchString(scrape(env))
			}, 25*time.Second, 200*time.Millisecond, "the alert metric rises during the storm")
		},
		func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			start.CompareAndSwap(0, time.Now().UnixNano())
			if time.Since(time.Unix(0, start.Load())) < 30*time.Second {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			return false
		})
	_, dups, faults := sink.counts()
	require.Less(t, faults, 200, "a dead system gets a trickle of probes, not 2,000 events times their attempts")
	require.Zero(t, dups, "an outage longer than the ack wait sends nothing twice: pulled and held messages are kept alive")
}

func TestFault429RetryAfter(t *testing.T) {
	t.Parallel()
	capacity := rate.NewLimiter(200, 20) // what the court's API gateway allows
	runSinkFault(t, faultRow{Fault: "system rate-limits (429 + Retry-After: 1)",
		Injection: "sink allows 200 req/s, answers 429 Retry-After: 1 above",
		Note:      "%d requests refused; throttle: {max: 1000/s} halves the shared rate and pauses"}, 3000, 2*time.Minute,
		"    throttle: {max: 1000/s}\n", nil,
		func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			if !capacity.Allow() {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		})
}

func TestFaultSlowerThanTheTimeout(t *testing.T) {
	t.Parallel()
	var slow atomic.Int64
	runSinkFault(t, faultRow{Fault: "responses slower than the timeout",
		Injection: "every 10th request answered after 2 s (timeout 1 s)",
		Note:      "%d slow answers; the system did the work, so a retry is a duplicate the Idempotency-Key lets it drop"},
		1000, 2*time.Minute, "", nil,
		func(n int, _ http.ResponseWriter, _ *http.Request) bool {
			if n%10 == 0 {
				slow.Add(1)
				<-time.After(2 * time.Second) // the system is slow, not gone: it finishes the work
			}
			return false
		}, &slow)
}

func TestFaultConnectionResets(t *testing.T) {
	t.Parallel()
	runSinkFault(t, faultRow{Fault: "connection reset mid-request",
		Injection: "every 7th request: connection closed with RST before an answer",
		Note:      "%d connections reset"}, 1000, 2*time.Minute, "", nil,
		func(n int, w http.ResponseWriter, _ *http.Request) bool {
			if n%7 != 0 {
				return false
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tcp, ok := conn.(*net.TCPConn); ok {
					_ = tcp.SetLinger(0) // RST, not FIN
				}
				_ = conn.Close()
			}
			return true
		})
}

func TestFaultConnectionRefused(t *testing.T) {
	t.Parallel()
	port := binFreePort(t)
	sink := newFaultSink(nil)
	env, serve, js := faultServe(t, sinkDoc(fmt.Sprintf("http://127.0.0.1:%d", port), ""))
	const n = 500
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)
	// Nothing listens until the refusals have opened the breaker; then
	// the system comes up on its port.
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + envValue(env, "EXTSYNC_HTTP_ADDR=") + "/api/v1/connectors")
		if err != nil {
			return false // serve's HTTP not up yet
		}
		defer resp.Body.Close()
		var st []struct{ Breaker string }
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st) == 1 && st[0].Breaker == "open"
	}, time.Minute, 100*time.Millisecond, "the breaker opens on refused connections")
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err)
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	row := faultRow{Fault: "system refuses connections", Injection: "nothing listening on its port until the breaker opens", Published: n}
	row.Delivered, row.Duplicated, row.DeadLettered = settleAll(t, js, sink, serve, n, 2*time.Minute)
	row.Lost = n - row.Delivered - row.DeadLettered
	row.Note = "refused attempts retried; the breaker opens, then lets a probe through"
	reportFault(t, row)
}

// degradedRE finds the alert metric raised (the exporter adds scope labels).
var degradedRE = regexp.MustCompile(`(?m)^extsync_connector_degraded\{extsync_connector="court"[^}]*\} 1$`)

// scrape is serve's /metrics, empty while it cannot be read.
func scrape(env []string) string {
	resp, err := http.Get("http://" + envValue(env, "EXTSYNC_HTTP_ADDR=") + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
