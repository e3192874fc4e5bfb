package snapshot_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// BenchmarkWriter is the writer's cost per event (one op), embedded NATS
// in the same process: 1,000 entities, versioned, bodies of ~300 B.
// `extsync bench --nats external` measures it with NATS apart.
func BenchmarkWriter(b *testing.B) {
	ctx := context.Background()
	_, js := brokertest.Connect(b, brokertest.RunServer(b))
	brokertest.Provision(b, js)
	pad := fmt.Sprintf("%0240d", 0)
	for i := range b.N {
		body := fmt.Sprintf(`{"id":"wf-%d","version":%d,"pad":"%s"}`, i%1000, i/1000+1, pad)
		if _, err := js.PublishAsync("hms.workflow.updated", []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("preload not stored")
	}
	c, err := snapshot.Ensure(ctx, js, "HMS_EVENTS", 1)
	if err != nil {
		b.Fatal(err)
	}
	w, err := snapshot.NewWriter(ctx, js, c, func() []snapshot.Spec { return []snapshot.Spec{versioned} }, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	waitWritten(b, c, uint64(b.N))
	b.StopTimer()
	stop()
	<-done
}

func waitWritten(b *testing.B, c jetstream.Consumer, n uint64) {
	deadline := time.Now().Add(5 * time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		info, err := c.Info(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if info.AckFloor.Stream >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("written through %d of %d", info.AckFloor.Stream, n)
		}
	}
}
