package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// BenchmarkIsolation measures what a connector whose system answers in
// 500 ms costs another connector: the fast connector drains b.N events
// alone, then again (fresh server) while the slow one has a backlog of
// its own. Both figures come from one run; the target is
// fast-with-slow ≥ 0.9 × fast-alone. Use -benchtime=20000x.
func BenchmarkIsolation(b *testing.B) {
	alone := drainFast(b, b.N, false)
	shared := drainFast(b, b.N, true)
	b.ReportMetric(float64(b.N)/alone.Seconds(), "alone-events/s")
	b.ReportMetric(float64(b.N)/shared.Seconds(), "with-slow-events/s")
	b.ReportMetric(alone.Seconds()/shared.Seconds(), "ratio")
}

// drainFast runs a pipeline with the fast connector (concurrency 16), and
// with slow too when withSlow, and returns how long fast took to deliver
// n preloaded events.
func drainFast(b *testing.B, n int, withSlow bool) time.Duration {
	b.Helper()
	s := brokertest.RunServer(b)
	nc, js := brokertest.Connect(b, s)
	brokertest.Provision(b, js)

	fast, got, done := countingSink(b, n, func([]byte) int { return 1 })
	// The slow system holds each request 500 ms, as a struggling court API
	// would; it lets go early when the client gives up.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	b.Cleanup(slow.Close)

	doc := fmt.Sprintf(`connectors:
  - name: fast
    kind: http
    subjects: [hms.bench.updated]
    concurrency: 16
    ordering: none
    http: {url: "%s/events/{id}"}
`, fast.URL)
	if withSlow {
		doc += fmt.Sprintf(`  - name: slow
    kind: http
    subjects: [hms.slow.updated]
    concurrency: 16
    ordering: none
    http: {url: "%s/events/{id}", timeout: 2s}
`, slow.URL)
	}
	file, err := config.Parse("isolation.yaml", []byte(doc), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := pipeline.New(ctx, pipeline.Options{
		JS: js, Stream: "HMS_EVENTS", Kinds: catalog.Default(),
		Logger: slog.New(slog.DiscardHandler), DrainTimeout: time.Second,
	}, file.Connectors)
	if err != nil {
		b.Fatal(err)
	}
	benchPreload(b, nc, n)
	if withSlow {
		benchPreloadTo(b, nc, "hms.slow.updated", 2000)
	}
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- p.Run(ctx) }()
	select {
	case <-done:
	case err := <-stopped:
		b.Fatalf("pipeline stopped: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d events delivered after 5 min", got.Load(), n)
	}
	took := time.Since(start)
	cancel()
	<-stopped
	return took
}
