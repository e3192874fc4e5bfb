package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

func liveDoc(url string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 4
    ordering: none
    http: {url: "%s/workflows/{id}"}
`, url)
}

func parseOne(t *testing.T, doc string) config.Connector {
	f, err := config.Parse("live.yaml", []byte(doc), nil, nil)
	require.NoError(t, err)
	return f.Connectors[0]
}

// An update while deliveries hang in the old system: the old runner
// drains them, the new one takes the rest, and no event is lost.
func TestUpsertDrainsTheOldRunnerAndLosesNothing(t *testing.T) {
	release := make(chan struct{})
	old := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	moved := newSink(t, nil)
	e := newEnv(t)
	e.start(liveDoc(old.URL), nil)
	const n = 100
	for i := range n {
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i), nil)
	}
	require.Eventually(t, func() bool { return old.count() == 4 }, 10*time.Second, 5*time.Millisecond,
		"four deliveries hang in the old system")

	e.waitFor("more events queued behind the four", func() bool {
		ackPending, _ := e.pending("court")
		return ackPending > 4
	})

	updated := make(chan error, 1)
	go func() { updated <- e.p.Upsert(context.Background(), parseOne(t, liveDoc(moved.URL))) }()
	// The old runner drains: it hands back what it queued and keeps only
	// the four in flight. Only then do they finish, so the rest can only
	// go to the new system.
	e.waitFor("the old runner handed back its queue", func() bool {
		ackPending, _ := e.pending("court")
		return ackPending == 4
	})
	close(release)
	require.NoError(t, <-updated)
	oldFinal := old.count()
	require.Eventually(t, func() bool {
		seen := map[string]bool{}
		for _, s := range []*sink{old, moved} {
			for _, r := range s.requests() {
				seen[r.Path] = true
			}
		}
		return len(seen) == n
	}, 20*time.Second, 10*time.Millisecond, "every event reached one system or the other")
	require.Equal(t, oldFinal, old.count(), "nothing goes to the old system once the update returned")
	require.Equal(t, 4, oldFinal, "the old system got only the four in flight when the update began")
	require.GreaterOrEqual(t, moved.count(), n-4, "the new system got the rest")

	require.NoError(t, e.p.Remove("court"))
	before := moved.count()
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"after-rm"}`), nil)
	cons, err := e.js.Consumer(context.Background(), "HMS_EVENTS", "extsync-court")
	require.NoError(t, err, "rm keeps the durable consumer and its position")
	require.Eventually(t, func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, before, moved.count())
	require.Error(t, e.p.Remove("court"), "already gone")
}
