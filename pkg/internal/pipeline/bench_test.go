package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// BenchmarkPipeline drains a backlog of b.N 512-byte CloudEvents through
// one http connector (no mapping, ordering none) into an httptest sink:
// decode, deliver, sync log, ack. The timer covers only the drain; the
// allocations counted are the whole process's, the embedded server's and
// the sink's included. Use -benchtime=20000x or so: every iteration
// starts its own server.
func BenchmarkPipeline(b *testing.B) {
	for _, c := range []int{1, 16} {
		b.Run("concurrency="+strconv.Itoa(c), func(b *testing.B) { benchPipeline(b, c, "none", 1) })
	}
}

// BenchmarkPipelineOrdering drains versioned events, ten versions per
// entity published round-robin, with ordering entity (the default) and
// none, at concurrency 64: what ordering costs on the same events.
func BenchmarkPipelineOrdering(b *testing.B) {
	for _, ordering := range []string{"entity", "none"} {
		b.Run("ordering="+ordering, func(b *testing.B) { benchPipeline(b, 64, ordering, 10) })
	}
}

func benchPipeline(b *testing.B, concurrency int, ordering string, versions int) {
	s := brokertest.RunServer(b)
	nc, js := brokertest.Connect(b, s)
	brokertest.Provision(b, js)

	n := b.N
	sink, got, done := countingSink(b, n, func([]byte) int { return 1 })

	file, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(`connectors:
  - name: bench
    kind: http
    subjects: [hms.bench.updated]
    concurrency: %d
    ordering: %s
    version: version
    http: {url: "%s/events/{id}"}
`, concurrency, ordering, sink.URL)), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := pipeline.New(ctx, pipeline.Options{
		JS: js, Stream: "HMS_EVENTS", Kinds: catalog.Default(),
		Logger: slog.New(slog.DiscardHandler), DrainTimeout: 5 * time.Second,
	}, file.Connectors)
	if err != nil {
		b.Fatal(err)
	}
	benchPreloadVersions(b, nc, "hms.bench.updated", n, versions)

	b.ReportAllocs()
	b.ResetTimer()
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	select {
	case <-done:
	case err := <-stopped:
		b.Fatalf("pipeline stopped: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d events delivered after 5 min", got.Load(), n)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	cancel()
	if err := <-stopped; err != nil {
		b.Fatal(err)
	}
}

// countingSink is an HTTP system that counts the events it receives
// (perRequest says how many a request body holds) and closes done at n.
func countingSink(b *testing.B, n int, perRequest func(body []byte) int) (*httptest.Server, *atomic.Int64, <-chan struct{}) {
	b.Helper()
	got := &atomic.Int64{}
	done := make(chan struct{})
	var once sync.Once
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if got.Add(int64(perRequest(body))) >= int64(n) {
			once.Do(func() { close(done) })
		}
	}))
	b.Cleanup(sink.Close)
	return sink, got, done
}

// benchPreload stores n CloudEvents of 512 bytes, as pkg/publish would
// send them, without waiting for each PubAck.
func benchPreload(b *testing.B, nc *nats.Conn, n int) {
	b.Helper()
	benchPreloadTo(b, nc, "hms.bench.updated", n)
}

// benchPreloadTo stores n events on subject.
func benchPreloadTo(b *testing.B, nc *nats.Conn, subject string, n int) {
	b.Helper()
	benchPreloadVersions(b, nc, subject, n, 1)
}

// benchPreloadVersions stores n events on subject: n/versions entities,
// each with versions versions, every entity's version v published before
// any entity's version v+1, as a platform's steady updates would be.
func benchPreloadVersions(b *testing.B, nc *nats.Conn, subject string, n, versions int) {
	b.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		b.Fatal(err)
	}
	entities := max(n/versions, 1)
	for i := range n {
		id, key := "e-"+strconv.Itoa(i), "k-"+strconv.Itoa(i%entities)
		head := `{"specversion":"1.0","id":"` + id + `","source":"hms/bench","type":"` + subject + `","subject":"` + key +
			`","time":"2025-03-01T12:00:00.000000000Z","datacontenttype":"application/json","data":{"id":"` + key +
			`","version":` + strconv.Itoa(i/entities+1) + `,"pad":"`
		tail := `"}}`
		body := head + strings.Repeat("x", max(512-len(head)-len(tail), 0)) + tail
		m := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{
			"Nats-Msg-Id": {subject + "/" + id}, "Content-Type": {"application/cloudevents+json"},
		}}
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("preload: PubAcks missing after 1 min")
	}
}
