package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/pipeline"
)

// While the system holds the one worker, the connector keeps no more of
// the big events it has pulled than its queue budget (plus the one that
// passed it); once the system answers, every event arrives, once.
func TestWaitingEventsStayWithinTheQueueBudget(t *testing.T) {
	const (
		n      = 40
		size   = 60 << 10
		budget = 256 << 10
	)
	gate := make(chan struct{})
	s := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	})
	e := newEnv(t)
	e.startWith(oneWorker(s.URL, ""), nil, func(o *pipeline.Options) { o.QueueBytes = budget })
	e.publishPadded(n, size)
	status := func() pipeline.ConnectorStatus { return e.p.Status(context.Background())[0] }
	e.waitFor("the budget full behind the one delivery the system holds", func() bool {
		st := status()
		return st.InFlight == 1 && st.WaitingBytes >= budget && s.count() == 1
	})
	// Unbounded, the reader takes every pulled event within milliseconds.
	require.Never(t, func() bool {
		st := status()
		return st.WaitingBytes >= budget+size+1024 || st.Waiting > budget/size+1
	}, 300*time.Millisecond, 5*time.Millisecond, "the connector held more than its queue budget")

	close(gate)
	e.waitFor("every event settled", func() bool {
		ack, pending := e.pending("court")
		return ack == 0 && pending == 0
	})
	seen := map[string]int{}
	for _, r := range s.requests() {
		seen[r.Path]++
	}
	require.Len(t, seen, n)
	for path, c := range seen {
		require.Equal(t, 1, c, "%s sent %d times", path, c)
	}
	st := status()
	require.Zero(t, st.Waiting)
	require.Zero(t, st.WaitingBytes)
}

// A drain while the reader waits for room hands everything back: the
// next instance (here the same pipeline started again) sends it all.
func TestShutdownWhileTheBudgetIsFullLosesNothing(t *testing.T) {
	const n, size = 20, 60 << 10
	var mu sync.Mutex
	hold := true
	release := make(chan struct{})
	s := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hold
		mu.Unlock()
		if h {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	doc := oneWorker(s.URL, "    retry: {max_attempts: 100, initial: 20ms, max: 50ms}\n")
	small := func(o *pipeline.Options) { o.QueueBytes = 100 << 10 }
	e := newEnv(t)
	e.startWith(doc, nil, small)
	e.publishPadded(n, size)
	e.waitFor("the budget full", func() bool {
		st := e.p.Status(context.Background())[0]
		return st.InFlight == 1 && st.WaitingBytes >= 100<<10
	})
	mu.Lock()
	hold = false
	mu.Unlock()
	close(release) // the held delivery fails and is retried later
	e.shutdown()

	e.startWith(doc, nil, small)
	e.waitFor("every event settled after the restart", func() bool {
		ack, pending := e.pending("court")
		return ack == 0 && pending == 0
	})
	delivered := map[string]bool{}
	for _, r := range s.requests() {
		delivered[r.Path] = true
	}
	require.Len(t, delivered, n)
	require.Empty(t, e.deadLetters("court"))
}

// oneWorker is a court connector with one worker and no ordering; extra
// adds indented lines.
func oneWorker(url, extra string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 1
    ordering: none
%s    http: {url: "%s/workflows/{id}"}
`, extra, url)
}

// publishPadded publishes n events wf-0.. of about size bytes each.
func (e *env) publishPadded(n, size int) {
	e.t.Helper()
	pad := strings.Repeat("x", size)
	for i := range n {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d","pad":%q}`, i, pad), nil)
	}
}
