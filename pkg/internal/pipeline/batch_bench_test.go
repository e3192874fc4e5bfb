package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// BenchmarkBatch drains a backlog of b.N 512-byte events through a batch
// connector (max_events 10,000, so size triggers every send) into one
// bulk endpoint: decode, map, coalesce, one request per 10,000, settle.
// Use -benchtime=100000x.
func BenchmarkBatch(b *testing.B) {
	s := brokertest.RunServer(b)
	nc, js := brokertest.Connect(b, s)
	brokertest.Provision(b, js)
	sink, got, done := countingSink(b, b.N, func(body []byte) int {
		var items []json.RawMessage
		_ = json.Unmarshal(body, &items)
		return len(items)
	})
	file, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(`connectors:
  - name: bulk
    kind: http
    subjects: [hms.bench.updated]
    mode: batch
    batch: {every: 1h, max_events: 10000}
    http: {url: "%s/one/{id}", bulk: {url: "%s/bulk"}}
`, sink.URL, sink.URL)), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := pipeline.New(ctx, pipeline.Options{JS: js, Stream: "HMS_EVENTS", Kinds: catalog.Default(),
		Logger: slog.New(slog.DiscardHandler), DrainTimeout: 5 * time.Second}, file.Connectors)
	if err != nil {
		b.Fatal(err)
	}
	benchPreload(b, nc, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case err := <-stopped:
			b.Fatalf("pipeline stopped: %v", err)
		case <-deadline:
			b.Fatalf("%d of %d delivered", got.Load(), b.N)
		case <-tick.C:
			// Once the whole backlog is read, the last partial batch goes
			// now rather than at the hour.
			st := p.Status(ctx)[0]
			if st.Pending == 0 && st.Batch.Waiting > 0 && st.Batch.Sending == 0 {
				p.RunBatch("bulk")
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cancel()
	<-stopped
}
