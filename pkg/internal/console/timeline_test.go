package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// The timeline finds every attempt for an event or an entity across
// connectors and replays, oldest first, with trace links.
func TestTimelineByEventAndEntity(t *testing.T) {
	f := newFixture(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := synclog.NewWriter(f.js)
	now := time.Now().UTC()
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	for i, r := range []synclog.Record{
		{Connector: "court", EventID: "ev-1", Entity: "wf-7", Attempt: 1, Outcome: "retry", Status: 503, TraceID: tid, Error: "maintenance"},
		{Connector: "court", EventID: "ev-1", Entity: "wf-7", Attempt: 2, Outcome: "dead-lettered", Status: 422, TraceID: tid},
		{Connector: "clinic", EventID: "ev-1", Entity: "wf-7", Attempt: 1, Outcome: "delivered", Status: 204, DurationMS: 12.5},
		{Connector: "court", EventID: "ev-1", Entity: "wf-7", Attempt: 1, Outcome: "delivered", Status: 204, ReplayOf: 9, Actor: "console:admin@127.0.0.1"},
		{Connector: "court", EventID: "ev-2", Entity: "wf-8", Attempt: 1, Outcome: "delivered", Status: 204},
		{Connector: "court", EventID: "ev-3", Entity: "wf-8", Attempt: 1, Outcome: "delivered", Status: 404, Operation: synclog.OperationDelete},
	} {
		r.Time = now.Add(time.Duration(i) * time.Second)
		require.NoError(t, w.Append(ctx, &r))
	}
	b := f.browser(t)
	_, body := b.get("/timeline")
	require.Contains(t, body, "Give an event id or an entity key")

	resp, body := b.get("/timeline?event=ev-1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 4, strings.Count(body, "<td>ev-1</td>"))
	require.NotContains(t, body, "ev-2")
	require.Less(t, strings.Index(body, ">retry<"), strings.Index(body, ">dead-lettered<"), "oldest first")
	require.Contains(t, body, `href="http://jaeger.test/trace/`+tid+`"`)
	require.Contains(t, body, "replay of dead letter 9")
	require.Contains(t, body, "12.5 ms")

	_, body = b.get("/timeline?entity=wf-8")
	require.Equal(t, 1, strings.Count(body, ">delivered (delete)<"), "a deletion says so")

	_, body = b.get("/timeline?entity=wf-7&connector=clinic")
	require.Equal(t, 1, strings.Count(body, "<td>ev-1</td>"))
	_, body = b.get("/timeline?event=nope")
	require.Contains(t, body, "Nothing in the sync log for this search.")
}

// "Send again" puts a delivered event back through one connector as a
// repair, recorded with who asked; a viewer sees no such button.
func TestSendAgainResendsADeliveredEventAsARepair(t *testing.T) {
	f := newFixture(t, "adm-secret", "view-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := f.js.Publish(ctx, "hms.workflow.updated", []byte(`{"id":"wf-7","version":3}`))
	require.NoError(t, err)
	mappings, err := mapping.OpenStore(ctx, f.js, 1)
	require.NoError(t, err)
	mv, err := mappings.Save(ctx, "court", map[string]string{"id": "case_id"})
	require.NoError(t, err)
	require.NoError(t, synclog.NewWriter(f.js).Append(ctx, &synclog.Record{Time: time.Now().UTC(), Connector: "court",
		EventID: "ev-7", Entity: "wf-7", StreamSeq: ack.Sequence, Attempt: 1, Outcome: "delivered", Status: 204,
		MappingVersion: mv}))

	state, err := reconcile.Open(ctx, f.js, 1)
	require.NoError(t, err)
	_, err = state.Acquire(ctx, "court", "wf-7", "3", ack.Sequence, time.Minute)
	require.NoError(t, err)
	require.NoError(t, state.Release(ctx, "court", "wf-7", "3", ack.Sequence,
		&reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"case_id": "wf-7", "courtroom": "4B"}), Mapping: "m1"}))

	viewer := f.browser(t)
	viewer.login("view-secret")
	_, body := viewer.get("/timeline?entity=wf-7")
	require.NotContains(t, body, "Send again")
	require.Contains(t, body, "Last record confirmed by court · wf-7 (version 3)", "the mapped body the system confirmed")
	require.Contains(t, body, "&#34;courtroom&#34;: &#34;4B&#34;")
	require.Contains(t, body, "<summary>Body sent</summary><pre>{\n  &#34;case_id&#34;: &#34;wf-7&#34;\n}</pre>",
		"the event mapped as that attempt mapped it")

	b := f.browser(t)
	b.login("adm-secret")
	_, body = b.get("/timeline?entity=wf-7")
	require.Contains(t, body, "Send again")
	resp, body := b.post("/timeline/send-again", url.Values{"connector": {"court"},
		"seq": {strconv.FormatUint(ack.Sequence, 10)}, "csrf": {b.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "on its way to court again")

	msgs := brokertest.Messages(t, f.js, deadletter.ReplayStream, deadletter.ReplaySubjectPrefix+"court")
	require.Len(t, msgs, 1)
	require.NotEmpty(t, msgs[0].Header.Get(deadletter.HeaderRepair), "let through as a repair")
	require.Equal(t, strconv.FormatUint(ack.Sequence, 10), msgs[0].Header.Get(deadletter.HeaderStreamSeq))
	require.Equal(t, "hms.workflow.updated", msgs[0].Header.Get(deadletter.HeaderSubject))
	require.Contains(t, msgs[0].Header.Get(deadletter.HeaderReplayedBy), "console:admin")
	require.JSONEq(t, `{"id":"wf-7","version":3}`, string(msgs[0].Data))
}
