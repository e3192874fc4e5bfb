package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// fakeClock is a batch clock the test moves by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// timers counts the timers set and not yet fired.
func (c *fakeClock) timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves time on and fires every timer now due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// bulkSink records every bulk request's items and answers with respond.
type bulkSink struct {
	*httptest.Server
	mu      sync.Mutex
	batches [][]map[string]any
	keys    []string
	respond func(n int, items []map[string]any, w http.ResponseWriter)
}

func newBulkSink(t *testing.T, respond func(n int, items []map[string]any, w http.ResponseWriter)) *bulkSink {
	s := &bulkSink{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var items []map[string]any
		_ = json.Unmarshal(raw, &items)
		s.mu.Lock()
		s.batches = append(s.batches, items)
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		n := len(s.batches)
		s.mu.Unlock()
		if s.respond != nil {
			s.respond(n, items, w)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bulkSink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

func batchDoc(url string, extra string) string {
	return fmt.Sprintf(`connectors:
  - name: nightly
    kind: http
    subjects: [hms.workflow.updated]
    mode: batch
    batch: {every: 1h%s}
    retry: {max_attempts: 5, initial: 1m, max: 10m, multiplier: 2, jitter: 0.01}
    http:
      url: "%s/one/{id}"
      bulk: {url: "%s/bulk"}
`, extra, url, url)
}

func (e *env) startBatch(doc string, clock *fakeClock) {
	e.startWith(doc, nil, func(o *pipeline.Options) { o.Clock = clock })
}

// settledAll waits until the consumer has nothing pending or unacked.
func (e *env) settledAll(what string) {
	e.t.Helper()
	e.waitFor(what, func() bool {
		c, err := e.js.Consumer(context.Background(), "HMS_EVENTS", "extsync-nightly")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

func (e *env) batchStatus() pipeline.BatchStatus {
	for _, st := range e.p.Status(context.Background()) {
		if st.Batch != nil {
			return *st.Batch
		}
	}
	return pipeline.BatchStatus{}
}

func (e *env) publishMany(n int, body func(i int) string) {
	e.t.Helper()
	js, err := jetstream.New(e.nc)
	require.NoError(e.t, err)
	for i := range n {
		_, err := js.PublishAsync("hms.workflow.updated", []byte(body(i)), jetstream.WithStallWait(time.Minute))
		require.NoError(e.t, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		e.t.Fatal("PubAcks missing")
	}
}

func TestBatchSendsTheNewestVersionOfEachEntityOnSchedule(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, nil)
	e.startBatch(batchDoc(sink.URL, ""), clock)
	const entities, versions = 1000, 10
	e.publishMany(entities*versions, func(i int) string {
		return fmt.Sprintf(`{"id":"wf-%d","version":%d}`, i%entities, i/entities+1)
	})
	e.waitFor("all coalesced", func() bool {
		return e.batchStatus().Waiting == entities && len(e.logRecords("nightly")) == entities*(versions-1)
	})
	require.Empty(t, sink.sizes(), "nothing is sent before the schedule")
	require.Equal(t, "superseded", e.logRecords("nightly")[0].Outcome)

	clock.Advance(time.Hour)
	e.settledAll("all 10,000 acked")
	require.Equal(t, []int{entities}, sink.sizes(), "one batch of the newest versions")
	for _, item := range sink.batches[0] {
		require.EqualValues(t, versions, item["version"], "%v", item)
	}
	require.Equal(t, "delivered", e.batchStatus().LastResult)
}

func TestBatchSizeLimitSplitsTheBacklog(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, nil)
	e.startBatch(batchDoc(sink.URL, ", max_events: 500"), clock)
	e.publishMany(1200, func(i int) string { return fmt.Sprintf(`{"id":"wf-%d"}`, i) })
	ok := assert.Eventually(t, func() bool { return len(sink.sizes()) == 2 && e.batchStatus().Waiting == 200 },
		15*time.Second, 10*time.Millisecond)
	require.True(t, ok, "two full batches sent: sizes %v, status %+v", sink.sizes(), e.batchStatus())
	clock.Advance(time.Hour)
	e.settledAll("all acked")
	require.Equal(t, []int{500, 500, 200}, sink.sizes())
}

func TestFailedBatchIsSentAgainWholeAndOnlyUntilItSucceeds(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, func(n int, _ []map[string]any, w http.ResponseWriter) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e.startBatch(batchDoc(sink.URL, ""), clock)
	e.publishMany(300, func(i int) string { return fmt.Sprintf(`{"id":"wf-%d"}`, i) })
	e.waitFor("waiting", func() bool { return e.batchStatus().Waiting == 300 })
	clock.Advance(time.Hour)
	e.waitFor("first attempt refused, backoff timer set", func() bool {
		return e.batchStatus().Sending == 300 && len(sink.sizes()) == 1 && clock.timers() == 2
	})
	clock.Advance(3 * time.Minute) // past the backoff
	e.settledAll("all acked after the second attempt")
	require.Equal(t, []int{300, 300}, sink.sizes())
	require.Equal(t, sink.batches[0], sink.batches[1], "the same batch, in the same order")
	require.Equal(t, sink.keys[0], sink.keys[1], "with the same Idempotency-Key")
	clock.Advance(time.Hour)
	require.Equal(t, "nothing to send", e.batchStatusEventually("nothing to send").LastResult)
	require.Len(t, sink.sizes(), 2, "nothing is sent twice once it succeeded")
	require.Empty(t, e.deadLetters("nightly"))
}

func (e *env) batchStatusEventually(result string) pipeline.BatchStatus {
	e.t.Helper()
	e.waitFor(result, func() bool { return e.batchStatus().LastResult == result })
	return e.batchStatus()
}

func TestBulkAnswerRefusingItemsParksOnlyThose(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, func(_ int, items []map[string]any, w http.ResponseWriter) {
		type answer struct {
			Status int    `json:"status"`
			Error  string `json:"error,omitempty"`
		}
		out := struct {
			Items []answer `json:"items"`
		}{}
		for _, it := range items {
			switch it["id"] {
			case "wf-3", "wf-17", "wf-42":
				out.Items = append(out.Items, answer{422, "no courtroom"})
			default:
				out.Items = append(out.Items, answer{Status: 200})
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	e.startBatch(batchDoc(sink.URL, ""), clock)
	e.publishMany(50, func(i int) string { return fmt.Sprintf(`{"id":"wf-%d"}`, i) })
	e.waitFor("waiting", func() bool { return e.batchStatus().Waiting == 50 })
	clock.Advance(time.Hour)
	e.settledAll("all settled")
	var parked []string
	for _, dl := range e.deadLetters("nightly") {
		var body map[string]any
		require.NoError(t, json.Unmarshal(dl.Data, &body))
		parked = append(parked, body["id"].(string))
		require.Contains(t, dl.Header.Get(deadletter.HeaderError), "422 no courtroom")
	}
	require.ElementsMatch(t, []string{"wf-3", "wf-17", "wf-42"}, parked)
	require.Equal(t, "delivered; 3 items refused", e.batchStatus().LastResult)
}

// A batch connector whose system keeps refusing is degraded like any
// other, and recovers at the first batch that goes through.
func TestBatchOutageDegradesAndRecovers(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, func(n int, _ []map[string]any, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e.startBatch(strings.Replace(batchDoc(sink.URL, ""), "    mode: batch\n", "    mode: batch\n    degraded_after: 1ms\n", 1), clock)
	e.publishMany(10, func(i int) string { return fmt.Sprintf(`{"id":"wf-%d"}`, i) })
	e.waitFor("waiting", func() bool { return e.batchStatus().Waiting == 10 })
	clock.Advance(time.Hour)
	e.waitFor("first attempt refused", func() bool { return len(sink.sizes()) == 1 && clock.timers() == 2 })
	clock.Advance(3 * time.Minute)
	e.waitFor("second attempt refused: degraded", func() bool {
		return len(sink.sizes()) == 2 && e.p.Status(context.Background())[0].Degraded
	})
	e.waitFor("backoff timer set", func() bool { return clock.timers() == 2 })
	clock.Advance(5 * time.Minute)
	e.settledAll("delivered on the third attempt")
	require.False(t, e.p.Status(context.Background())[0].Degraded)
}
