package pipeline_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
)

func TestPermanentFailureIsDeadLetteredAtOnceWithEveryHeader(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"start_time is in the past"}`))
	})
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "sekret-token"})
	body := []byte(`{"id":"wf-1","name":"x"}`)
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ack := e.publishRaw("hms.workflow.updated", body, nats.Header{"Nats-Msg-Id": []string{"evt-1"}, "traceparent": []string{tp}, "X-Module": []string{"policy"}})

	e.waitFor("a dead letter", func() bool { return len(e.deadLetters("court")) == 1 })
	dl := e.deadLetters("court")[0]
	h := dl.Header
	require.Equal(t, body, dl.Data, "the original body")
	require.Equal(t, "court", h.Get(deadletter.HeaderConnector))
	require.Equal(t, "hms.workflow.updated", h.Get(deadletter.HeaderSubject))
	require.Equal(t, strconv.FormatUint(ack.Sequence, 10), h.Get(deadletter.HeaderStreamSeq))
	require.Equal(t, "evt-1", h.Get(deadletter.HeaderEventID))
	require.Equal(t, "1", h.Get(deadletter.HeaderAttempts))
	require.Equal(t, "permanent", h.Get(deadletter.HeaderStatus))
	require.Equal(t, "400", h.Get(deadletter.HeaderHTTPStatus))
	require.Contains(t, h.Get(deadletter.HeaderError), "400 Bad Request")
	require.Contains(t, h.Get(deadletter.HeaderError), "start_time is in the past")
	require.Equal(t, tp, h.Get(deadletter.HeaderTraceparent))
	require.Equal(t, "policy", h.Get("X-Module"), "original headers kept for replay")
	require.Equal(t, "evt-1", h.Get(deadletter.HeaderOriginalMsgID))
	for _, k := range []string{deadletter.HeaderFirstAttempt, deadletter.HeaderLastAttempt} {
		ts, err := time.Parse(time.RFC3339Nano, h.Get(k))
		require.NoError(t, err, k)
		require.WithinDuration(t, time.Now(), ts, time.Minute)
	}
	for k, vs := range h {
		for _, v := range vs {
			require.NotContains(t, v, "sekret-token", "header %s leaks the token", k)
		}
	}
	require.Equal(t, 1, s.count(), "no retry after a permanent failure")
	recs := e.recordsWhenStored("court", 1)
	require.Len(t, recs, 1)
	require.Equal(t, "dead-lettered", recs[0].Outcome)
	require.Equal(t, 400, recs[0].Status)
	e.waitFor("acked", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
}

func TestExhaustedAttemptsAreDeadLettered(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, status(http.StatusInternalServerError))
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)

	e.waitFor("a dead letter", func() bool { return len(e.deadLetters("court")) == 1 })
	h := e.deadLetters("court")[0].Header
	require.Equal(t, "exhausted", h.Get(deadletter.HeaderStatus))
	require.Equal(t, "4", h.Get(deadletter.HeaderAttempts))
	first, _ := time.Parse(time.RFC3339Nano, h.Get(deadletter.HeaderFirstAttempt))
	last, _ := time.Parse(time.RFC3339Nano, h.Get(deadletter.HeaderLastAttempt))
	require.Greater(t, last.Sub(first), 500*time.Millisecond, "first and last attempts span the backoffs (100+200+400ms)")
	require.Equal(t, 4, s.count(), "max_attempts requests")
	outcomes := []string{}
	for _, r := range e.recordsWhenStored("court", 4) {
		outcomes = append(outcomes, r.Outcome)
	}
	require.Equal(t, []string{"retry", "retry", "retry", "dead-lettered"}, outcomes)
}

func TestBadEventsAreDeadLetteredWithAReasonAndThePipelineGoesOn(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, nil)
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, "    mapping: {a.b: x}\n"), map[string]string{"TOKEN": "t"})
	big := []byte(`{"id":"wf-big","pad":"` + strings.Repeat("x", 2<<20) + `"}`)
	cases := []struct {
		body   []byte
		reason string
	}{
		{[]byte(`{"id": "wf-1", `), "malformed event: body is not valid JSON"},
		{[]byte(`["not", "an", "object"]`), "body is a JSON array, want an object"},
		{[]byte(`{"name":"no id","a":{"b":1}}`), `URL placeholder {id}: the event has no field "id"`},
		{[]byte(`{"id":"wf-2","a":"scalar"}`), `unmappable event: "a.b": "a" is not an object`},
		{big, fmt.Sprintf("event body is %d bytes, over the connector's max_event_bytes of 1048576", len(big))},
	}
	for _, c := range cases {
		e.publishRaw("hms.workflow.updated", c.body, nil)
	}
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-ok","a":{"b":"fine"}}`), nil)

	e.waitFor("every bad event dead-lettered", func() bool { return len(e.deadLetters("court")) == len(cases) })
	e.waitFor("the good event delivered", func() bool { return s.count() == 1 })
	require.Equal(t, "/workflows/wf-ok", s.requests()[0].Path)
	// Events without an entity key run side by side: match by body, not order.
	reasons := map[string]string{}
	for _, c := range cases {
		reasons[string(c.body)] = c.reason
	}
	for _, dl := range e.deadLetters("court") {
		reason, ok := reasons[string(dl.Data)]
		require.True(t, ok, "original body kept")
		require.Contains(t, dl.Header.Get(deadletter.HeaderError), reason)
		require.Equal(t, "permanent", dl.Header.Get(deadletter.HeaderStatus))
		delete(reasons, string(dl.Data))
	}
	require.Empty(t, reasons, "each bad event parked once")
	e.waitFor("all acked", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
}

func TestDeadLetterIsStoredOnceWhenTheSameMessageIsParkedTwice(t *testing.T) {
	// A crash between park and ack redelivers the message; the repeat park
	// carries the same Nats-Msg-Id and JetStream keeps one copy. Two
	// connectors parking the same event must not dedupe each other.
	e := newEnv(t)
	s := newSink(t, status(http.StatusUnprocessableEntity))
	doc := "connectors:\n" + httpConnector("one", "hms.workflow.updated", s.URL, "") + "\n" +
		httpConnector("two", "hms.workflow.updated", s.URL, "")
	e.start(doc, map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)
	e.waitFor("both connectors parked it", func() bool {
		return len(e.deadLetters("one")) == 1 && len(e.deadLetters("two")) == 1
	})
	e.shutdown()

	dl := e.deadLetters("one")[0]
	m := nats.NewMsg(dl.Subject)
	m.Data, m.Header = dl.Data, dl.Header
	m.Header.Set("Nats-Msg-Id", "one:HMS_EVENTS:1")
	ack, err := e.js.PublishMsg(t.Context(), m)
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "the repeat park is deduplicated")
	require.Len(t, e.deadLetters("one"), 1)
}
