package pipeline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/publish"
)

func TestDeliversMappedEventFromPlainJSONAndCloudEvent(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, nil)
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, `    mapping:
      name: workflow_name
      assignment.judge.name: judge
      tags: labels
`), map[string]string{"TOKEN": "tok-123"})

	plain := e.publishRaw("hms.workflow.updated",
		[]byte(`{"id":"wf-1","name":"Attorney Rotation","assignment":{"judge":{"name":"Okafor"}},"tags":["a",{"b":1}],"secret":"x"}`),
		nats.Header{"traceparent": []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	withID := e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","name":"B"}`), nats.Header{"Nats-Msg-Id": []string{"module-evt-7"}})
	ce, err := publish.New(e.js, "hms/policy").Publish(context.Background(), "hms.workflow.updated",
		`{"id":"wf-3","name":"Night Court"}`, publish.WithID("ce-42"))
	require.NoError(t, err)

	e.waitFor("three requests", func() bool { return s.count() == 3 })
	reqs := s.requests()
	byPath := map[string]received{}
	for _, r := range reqs {
		byPath[r.Path] = r
	}
	r1 := byPath["/workflows/wf-1"]
	require.Equal(t, http.MethodPut, r1.Method)
	require.Equal(t, "Bearer tok-123", r1.Header.Get("Authorization"))
	require.Equal(t, "application/json", r1.Header.Get("Content-Type"))
	require.Equal(t, "HMS_EVENTS:"+strconv.FormatUint(plain.Sequence, 10), r1.Header.Get("Idempotency-Key"))
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", r1.Header.Get("traceparent"))
	require.Equal(t, map[string]any{
		"workflow_name": "Attorney Rotation", "judge": "Okafor", "labels": []any{"a", map[string]any{"b": float64(1)}},
	}, r1.Body)

	require.Equal(t, "module-evt-7", byPath["/workflows/wf-2"].Header.Get("Idempotency-Key"))
	require.Equal(t, "ce-42", byPath["/workflows/wf-3"].Header.Get("Idempotency-Key"))
	require.Equal(t, map[string]any{"workflow_name": "Night Court"}, byPath["/workflows/wf-3"].Body)
	_ = withID
	_ = ce

	e.waitFor("three delivered records", func() bool { return len(e.logRecords("court")) == 3 })
	for _, rec := range e.logRecords("court") {
		require.Equal(t, "delivered", rec.Outcome)
		require.Equal(t, 1, rec.Attempt)
		require.NotEmpty(t, rec.Entity)
	}
	e.waitFor("all acked", func() bool { ack, pend := e.pending("court"); return ack == 0 && pend == 0 })
}

func TestNoMappingPassesWholeDataThrough(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, nil)
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","nested":{"a":[1,2,{"b":null}]},"n":12345678901234567890}`), nil)
	e.waitFor("a request", func() bool { return s.count() == 1 })
	require.Equal(t, map[string]any{"id": "wf-1", "nested": map[string]any{"a": []any{float64(1), float64(2), map[string]any{"b": nil}}},
		"n": 1.2345678901234567e+19}, s.requests()[0].Body)
}

func TestTransientFailuresAreRetriedWithGrowingDelays(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)

	e.waitFor("delivered record", func() bool {
		recs := e.logRecords("court")
		return len(recs) == 3 && recs[2].Outcome == "delivered"
	})
	recs := e.logRecords("court")
	require.Equal(t, []string{"retry", "retry", "delivered"}, []string{recs[0].Outcome, recs[1].Outcome, recs[2].Outcome})
	require.Equal(t, []int{1, 2, 3}, []int{recs[0].Attempt, recs[1].Attempt, recs[2].Attempt})
	require.Equal(t, 503, recs[0].Status)
	require.Greater(t, recs[1].RetryInMS, recs[0].RetryInMS, "backoff grows")

	reqs := s.requests()
	require.Len(t, reqs, 3)
	gap1, gap2 := reqs[1].At.Sub(reqs[0].At), reqs[2].At.Sub(reqs[1].At)
	require.GreaterOrEqual(t, gap1, 95*time.Millisecond)
	require.Greater(t, gap2, gap1, "second wait is longer than the first")
	for _, r := range reqs {
		require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), r.Header.Get("Idempotency-Key"), "same key on every attempt")
	}
	require.Empty(t, e.deadLetters("court"))
}

func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)
	e.waitFor("two requests", func() bool { return s.count() == 2 })
	reqs := s.requests()
	require.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 2*time.Second, "next attempt no sooner than Retry-After")
	recs := e.logRecords("court")
	require.Equal(t, int64(2000), recs[0].RetryInMS)
}

func TestTwoConnectorsOnOneSubjectAreIndependent(t *testing.T) {
	e := newEnv(t)
	up := newSink(t, nil)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	down := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select { // a system that hangs until the test lets it recover
		case <-release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	})
	t.Cleanup(free)
	doc := "connectors:\n" + httpConnector("fast", "hms.scheduling.updated", up.URL, "    concurrency: 4\n") +
		"\n" + httpConnector("stuck", "hms.scheduling.updated", down.URL, "    concurrency: 2\n")
	e.start(doc, map[string]string{"TOKEN": "t"})
	const n = 50
	for i := range n {
		e.publishRaw("hms.scheduling.updated", []byte(`{"id":"h-`+strconv.Itoa(i)+`"}`), nil)
	}
	e.waitFor("every event at the healthy system", func() bool { return up.count() == n })
	require.LessOrEqual(t, down.count(), 2, "the stuck connector has at most its concurrency in flight")
	require.Len(t, paths(up), n, "each event once")

	free() // the stuck system recovers: it too gets every event
	e.waitFor("every event at the recovered system", func() bool { return len(paths(down)) == n })
}

// paths returns the distinct paths a sink was sent.
func paths(s *sink) map[string]bool {
	seen := map[string]bool{}
	for _, r := range s.requests() {
		seen[r.Path] = true
	}
	return seen
}

func TestShutdownFinishesInFlightDeliveryThenAcks(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)
	<-started
	e.stop() // SIGTERM arrives while the request is in flight
	close(release)
	select {
	case err := <-e.done:
		require.NoError(t, err)
		e.stop = nil
	case <-time.After(10 * time.Second):
		t.Fatal("pipeline did not drain")
	}
	recs := e.logRecords("court")
	require.Len(t, recs, 1)
	require.Equal(t, "delivered", recs[0].Outcome)
	ack, pending := e.pending("court")
	require.Zero(t, ack, "settled before exit")
	require.Zero(t, pending)
	require.Equal(t, 1, s.count())
}

func TestRecordsCarryEventFields(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, nil)
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, "    version: meta.rev\n"), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-9","meta":{"rev":4}}`),
		nats.Header{"traceparent": []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	e.waitFor("record", func() bool { return len(e.logRecords("court")) == 1 })
	r := e.logRecords("court")[0]
	raw, _ := json.Marshal(r)
	require.Equal(t, "wf-9", r.Entity, string(raw))
	require.Equal(t, "4", r.Version)
	require.Equal(t, "hms.workflow.updated", r.Subject)
	require.Equal(t, "0af7651916cd43dd8448eb211c80319c", r.TraceID)
	require.Positive(t, r.DurationMS)
}

// Without a mapping the system receives the event's data as published,
// byte for byte (its field order, its numbers, its escapes), whether the
// event is plain JSON or a CloudEvent; with one, the mapped object.
func TestUnmappedDataIsSentAsPublished(t *testing.T) {
	e := newEnv(t)
	plain, mapped := newSink(t, nil), newSink(t, nil)
	e.start("connectors:\n"+httpConnector("as-is", "hms.workflow.updated", plain.URL, "")+
		httpConnector("mapped", "hms.workflow.updated", mapped.URL, "    mapping: {name: title}\n"),
		map[string]string{"TOKEN": "t"})
	const data = `{"name":"<Rotation & Review>", "id":"wf-1","big":12345678901234567890,"z":[1.50]}`
	e.publishRaw("hms.workflow.updated", []byte(" "+data+"\n"), nil)
	_, err := publish.New(e.js, "hms/policy").Publish(context.Background(), "hms.workflow.updated",
		json.RawMessage(strings.Replace(data, "wf-1", "wf-2", 1)), publish.WithID("ce-2"))
	require.NoError(t, err)

	e.waitFor("both events at both systems", func() bool { return plain.count() == 2 && mapped.count() == 2 })
	got := map[string]string{}
	for _, r := range plain.requests() {
		got[r.Path] = r.Raw
	}
	require.Equal(t, data, got["/workflows/wf-1"], "plain JSON: the body itself")
	require.Equal(t, strings.Replace(data, "wf-1", "wf-2", 1), got["/workflows/wf-2"], "CloudEvent: its data member")
	for _, r := range mapped.requests() {
		require.JSONEq(t, `{"title":"<Rotation & Review>"}`, r.Raw)
	}
}
