package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/deadletter"
)

// An event as large as the server takes cannot be stored again beside a
// dead letter's headers. It is parked without its body, which stays in
// its stream, and a replay reads it from there: the system gets the whole
// event, and nothing is stuck or lost.
func TestEventAtTheServersMaxPayloadIsParkedAndReplayedWhole(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	var got []string
	s := newSink(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
	})
	e := newEnv(t)
	e.start(fmt.Sprintf(`connectors:
  - name: archive
    kind: http
    subjects: [hms.workflow.updated]
    max_event_bytes: 9000000
    http: {url: "%s/records/{id}"}
`, s.URL), nil)
	pad := strings.Repeat("x", broker.MaxPayload-224) // the event fits; with a dead letter's headers it would not
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-big","pad":"`+pad+`"}`), nil)
	e.waitFor("parked", func() bool { return len(e.deadLetters("archive")) == 1 })
	e.waitFor("acked", func() bool { a, p := e.pending("archive"); return a == 0 && p == 0 })
	dl := e.deadLetters("archive")[0]
	require.Empty(t, dl.Data, "the body stays in its stream")
	require.NotEmpty(t, dl.Header.Get(deadletter.HeaderBodyOmitted))
	require.Equal(t, "HMS_EVENTS:1", dl.Header.Get(deadletter.HeaderBodyAt))

	refuse.Store(false)
	entries, err := deadletter.Select(context.Background(), e.js, deadletter.Filter{Connector: "archive"})
	require.NoError(t, err)
	_, err = deadletter.NewReplayer(e.js).Replay(context.Background(), deadletter.ReplayItems(entries, ""))
	require.NoError(t, err)
	e.waitFor("delivered whole", func() bool {
		for _, r := range s.requests() {
			if r.Body["pad"] == pad {
				got = append(got, r.Path)
			}
		}
		return len(got) > 0
	})
	require.Equal(t, "/records/wf-big", got[0])
}
