package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// 1,000 versions of 50 entities, published shuffled, delivered by two
// three instances sharing one consumer to a system that fails a fifth of the
// requests at random: per entity, the versions the system accepted only
// ever go up, and each entity ends at its newest version.
func TestEntityVersionsNeverGoBackwardsAcrossInstances(t *testing.T) {
	const entities, versions = 50, 20
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 11))
	accepted := map[string][]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(5) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		accepted[body.ID] = append(accepted[body.ID], body.Version)
	}))
	t.Cleanup(sink.Close)
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 8
    version: version
    retry: {max_attempts: 50, initial: 10ms, max: 50ms, multiplier: 2, jitter: 0.1}
    http: {url: "%s/workflows/{id}"}
`, sink.URL)
	e := newEnv(t)
	e.start(doc, nil)
	startSecond(t, e, doc) // two more instances on the same durable consumer
	startSecond(t, e, doc)

	var events []string
	for en := range entities {
		for v := 1; v <= versions; v++ {
			events = append(events, fmt.Sprintf(`{"id":"wf-%d","version":%d}`, en, v))
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for _, ev := range events {
		e.publishRaw("hms.workflow.updated", []byte(ev), nil)
	}
	e.waitFor("every event settled", func() bool {
		ack, pending := e.pending("court")
		return ack == 0 && pending == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for en := range entities {
		got := accepted[fmt.Sprintf("wf-%d", en)]
		require.NotEmpty(t, got, "wf-%d", en)
		for i := 1; i < len(got); i++ {
			require.Greater(t, got[i], got[i-1], "wf-%d went backwards: %v", en, got)
		}
		require.Equal(t, versions, got[len(got)-1], "wf-%d ends at its newest version: %v", en, got)
	}
	superseded := 0
	for _, rec := range e.logRecords("court") {
		if rec.Outcome == "superseded" {
			superseded++
		}
	}
	require.Positive(t, superseded, "older versions arriving late are acked as superseded")
}

// startSecond runs another pipeline for doc on e's broker until the test ends.
func startSecond(t *testing.T, e *env, doc string) {
	f, err := config.Parse("second.yaml", []byte(doc), nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, pipeline.Options{JS: e.js, Stream: "HMS_EVENTS", Kinds: catalog.Default(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 5 * time.Second}, f.Connectors)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
}

// Events of one entity, without versions, published in order and
// delivered by many workers: the system receives them in stream order.
// Only the order of arrival says which is newer here, so sending two out
// of order would leave the system with stale data.
func TestOneInstanceSendsAnEntitysEventsInStreamOrder(t *testing.T) {
	const n = 3000
	s := newSink(t, nil)
	e := newEnv(t)
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, "    concurrency: 16\n"),
		map[string]string{"TOKEN": "t"})
	for i := range n {
		// Three entities interleaved keep every worker busy; each
		// entity's events must still go one at a time, in order.
		e.publishRaw("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d","n":%d}`, i%3, i), nil)
	}
	e.waitFor("every event delivered", func() bool { return s.count() == n })
	last := map[int]int{0: -1, 1: -1, 2: -1}
	for _, r := range s.requests() { // in the order the system received them
		v := int(r.Body["n"].(float64))
		require.Greater(t, v, last[v%3], "entity wf-%d: event %d arrived after event %d", v%3, v, last[v%3])
		last[v%3] = v
	}
}
