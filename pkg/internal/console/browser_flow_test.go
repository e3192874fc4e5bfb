package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

const courtDoc = `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    ordering: none
    degraded_after: 1ms
    http: {url: "%s/{id}", method: PUT}
    retry: {max_attempts: 1000, initial: 100ms, max: 200ms}
`

// The console in a real browser against the real pipeline: a court
// system that is down and refuses one event. The overview shows the
// connector degraded, the viewer sees the dead letter without a replay
// button, the admin's dry run counts 1 and the replay delivers it once
// the system is back; the timeline shows every attempt.
func TestConsoleInABrowser(t *testing.T) {
	ctx := newBrowser(t)
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	sys := newCourt(t)
	base := serveAll(t, ns, strings.Replace(courtDoc, "%s", sys.URL, 1))
	publishWithID(t, js, "wf-bad")
	publishWithID(t, js, "wf-1")
	parkConflict(t, js)

	// Nothing without a token.
	step(t, ctx, "login form", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	html := outer(t, ctx, "html")
	require.NotContains(t, html, "court")
	shot(t, ctx, "login")

	// The viewer: everything, no change button.
	login(t, ctx, base, "view-secret")
	step(t, ctx, "degraded connector stands out (the table refreshes by itself)",
		chromedp.WaitVisible(chromedp.CSS(`tr.bad[data-connector="court"] .badge.bad`)))
	require.Contains(t, text(t, ctx, `tr[data-connector="court"]`), "degraded")
	before := text(t, ctx, "#status-line time")
	require.Eventually(t, func() bool {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		now, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("#status-line time")))
		return err == nil && now != before
	}, 10*time.Second, 100*time.Millisecond,
		"the script reloads the table in place (CSP allows it)")
	step(t, ctx, "dead letter listed", chromedp.Navigate(base+"/dlq"),
		chromedp.WaitVisible(chromedp.CSS(`a[aria-label^="Dead letter"]`)))
	require.Contains(t, text(t, ctx, "tbody"), "wf-bad")
	html = outer(t, ctx, "main")
	require.NotContains(t, html, "Replay…", "a viewer has no replay button")
	require.NotContains(t, html, "/dlq/confirm")
	step(t, ctx, "log out", chromedp.Click(chromedp.CSS("form.inline button")), chromedp.WaitVisible(chromedp.CSS("#token")))

	// The admin.
	login(t, ctx, base, "adm-secret")
	step(t, ctx, "degraded", chromedp.WaitVisible(chromedp.CSS(`tr.bad[data-connector="court"]`)))
	step(t, ctx, "Tab reaches the skip link first", chromedp.KeyEvent("\t"))
	require.Equal(t, "Skip to content", focused(t, ctx))
	shot(t, ctx, "overview")
	step(t, ctx, "dead letters", chromedp.Navigate(base+"/dlq?connector=court"),
		chromedp.WaitVisible(chromedp.CSS(`a[aria-label^="Dead letter"]`)))
	shot(t, ctx, "dead-letters")
	step(t, ctx, "one dead letter", chromedp.Click(chromedp.CSS(`a[aria-label^="Dead letter"]`)),
		chromedp.WaitVisible(chromedp.CSS("dl.meta")))
	require.Contains(t, text(t, ctx, "dl.meta"), "unknown courtroom")
	shot(t, ctx, "dead-letter")

	step(t, ctx, "dry run", chromedp.Navigate(base+"/dlq?connector=court"),
		chromedp.Click(chromedp.CSS(`form.act button[value="replay"]`)), chromedp.WaitVisible(chromedp.CSS("#count")))
	require.Contains(t, text(t, ctx, "#count"), "1 dead letter would be replayed")
	shot(t, ctx, "dry-run")

	sys.up.Store(true) // the court is back
	// By keyboard: type the rate cap and press Enter, which submits the
	// confirmation's one button. The replay runs in the background; its
	// progress page reloads itself until it is done.
	step(t, ctx, "replay", chromedp.SendKeys(chromedp.CSS("#rate"), "10/s\r"),
		chromedp.WaitVisible(chromedp.CSS(`#replay[data-state="done"] p.notice`)))
	require.Contains(t, text(t, ctx, "p.notice"), "Replayed 1 dead letter;")
	require.Equal(t, "1", text(t, ctx, "#replay-sent"))
	require.Eventually(t, func() bool { return sys.got("/wf-bad") == 1 }, 20*time.Second, 20*time.Millisecond,
		"the replayed event reaches the court once")
	require.Eventually(t, func() bool { return sys.got("/wf-1") == 1 }, 20*time.Second, 20*time.Millisecond)

	require.Eventually(t, func() bool {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Navigate(base+"/timeline?event=wf-bad"), chromedp.WaitVisible(chromedp.CSS("tbody"))); err != nil {
			return false
		}
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS("tbody")))
		return err == nil && strings.Contains(s, "dead-lettered") && strings.Contains(s, "delivered")
	}, 20*time.Second, 200*time.Millisecond, "the timeline shows the refusal and the replay's delivery")
	shot(t, ctx, "timeline")

	step(t, ctx, "conflicts", chromedp.Navigate(base+"/conflicts"), chromedp.WaitVisible(chromedp.CSS("tr.collide")))
	shot(t, ctx, "conflicts")
	step(t, ctx, "keep theirs", chromedp.Click(chromedp.CSS(`button[value="remote"]`)), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	require.Contains(t, text(t, ctx, "p.notice"), "resolved: remote")
	step(t, ctx, "no conflict left", chromedp.Navigate(base+"/conflicts"), chromedp.WaitVisible(chromedp.CSS("main p")))
	require.Contains(t, text(t, ctx, "main p"), "No conflict is parked")
	step(t, ctx, "connectors", chromedp.Navigate(base+"/connectors"), chromedp.WaitVisible(chromedp.CSS("#doc-court")))
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	def, err := chromedp.Run(vctx, chromedp.Value(chromedp.CSS("#doc-court")))
	cancel()
	require.NoError(t, err)
	require.Contains(t, def, "degraded_after")
	shot(t, ctx, "connectors")
	step(t, ctx, "overview recovers", chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tr.ok[data-connector="court"]`)))

	step(t, ctx, "remove asks first", chromedp.Navigate(base+"/connectors"),
		chromedp.Click(chromedp.CSS(`form.remove button`)), chromedp.WaitVisible(chromedp.CSS("#remove-what")))
	require.Contains(t, text(t, ctx, "main"), "durable consumer is kept")
	step(t, ctx, "remove", chromedp.Click(chromedp.CSS(`form.act button.danger`)), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	require.Contains(t, text(t, ctx, "p.notice"), "court: removed from the connector store")
	step(t, ctx, "gone from the store", chromedp.Navigate(base+"/connectors"), chromedp.WaitVisible(chromedp.CSS("main p")))
	require.Contains(t, text(t, ctx, "main"), "The connector store is empty")
}

// focused is the text of the element that has the keyboard focus.
func focused(t *testing.T, ctx context.Context) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](`document.activeElement.textContent`))
	require.NoError(t, err)
	return s
}

// parkConflict parks a conflict of entity wf-7 for the conflicts page.
func parkConflict(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Eventually(t, func() bool { _, err := js.Stream(ctx, reconcile.ConflictStream); return err == nil },
		10*time.Second, 10*time.Millisecond, "the pipeline creates the conflict stream")
	require.NoError(t, reconcile.Park(ctx, js, &reconcile.Conflict{
		Connector: "court", EventID: "wf-7@3", Entity: "wf-7", Version: "3", Subject: "hms.workflow.updated",
		Error: "HTTP 409: assignment overlaps", Fields: []string{"courtroom"},
		Base:   map[string]any{"courtroom": "2A", "judge": "Ito", "start_time": "09:00"},
		Local:  map[string]any{"courtroom": "4B", "judge": "Ito", "start_time": "10:00"},
		Remote: map[string]any{"courtroom": "3C", "judge": "Okafor", "start_time": "09:00"},
		Merged: map[string]any{"courtroom": "4B", "judge": "Okafor", "start_time": "10:00"},
		Parked: time.Now().UTC(), EventBody: []byte(`{"id":"wf-7"}`),
	}, 7))
}
