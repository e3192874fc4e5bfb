package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// versionedBatchDoc is batchDoc with events versioned by their "version".
func versionedBatchDoc(url string) string {
	return strings.Replace(batchDoc(url, ""), "    mode: batch\n", "    mode: batch\n    version: version\n", 1)
}

// itemsOf lists "id@version" of every item of batch n (from 0).
func (s *bulkSink) itemsOf(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, it := range s.batches[n] {
		out = append(out, fmt.Sprintf("%v@%v", it["id"], it["version"]))
	}
	return out
}

// outcomesOf counts connector's sync log records by outcome for one event.
func (e *env) outcomesOf(connector, entity, version string) []string {
	var out []string
	for _, r := range e.logRecords(connector) {
		if r.Entity == entity && r.Version == version {
			out = append(out, r.Outcome)
		}
	}
	return out
}

// An entity's older version that arrives after a newer one was sent is
// never sent in a later batch: not by the instance that sent the newer
// one, nor by a second instance started after it.
func TestBatchNeverSendsAnOlderVersionInALaterBatch(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, nil)
	e.startBatch(versionedBatchDoc(sink.URL), clock)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":2}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","version":1}`), nil)
	e.waitFor("two waiting", func() bool { return e.batchStatus().Waiting == 2 })
	clock.Advance(time.Hour)
	e.settledAll("first batch acked")
	require.ElementsMatch(t, []string{"wf-1@2", "wf-2@1"}, sink.itemsOf(0))

	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":1}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","version":2}`), nil)
	e.waitFor("the stale version settled, the newer one waiting", func() bool {
		return e.batchStatus().Waiting == 1 && len(e.outcomesOf("nightly", "wf-1", "1")) == 1
	})
	require.Equal(t, []string{"superseded"}, e.outcomesOf("nightly", "wf-1", "1"))
	clock.Advance(time.Hour)
	e.settledAll("second batch acked")
	require.Equal(t, []string{"wf-2@2"}, sink.itemsOf(1))

	e.shutdown()
	second, clock2 := &env{t: t, nc: e.nc, js: e.js}, newFakeClock()
	second.startBatch(versionedBatchDoc(sink.URL), clock2)
	second.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","version":1}`), nil)
	second.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-3","version":1}`), nil)
	// A new instance does not know wf-2's state yet: the stale version
	// waits with the batch and is refused when the batch claims it.
	second.waitFor("both waiting", func() bool { return second.batchStatus().Waiting == 2 })
	clock2.Advance(time.Hour)
	second.settledAll("third batch acked")
	require.Equal(t, []string{"delivered", "superseded"}, second.outcomesOf("nightly", "wf-2", "1"),
		"the second instance refuses the stale version")
	require.Equal(t, []string{"wf-3@1"}, sink.itemsOf(2))
	require.Len(t, sink.sizes(), 3)
}

// A batch claims its entities when it is sent: a version that was newer
// when it joined the batch, but older than one another instance confirmed
// meanwhile, is settled as superseded and not sent.
func TestBatchClaimsEachEntityWhenItIsSent(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, nil)
	e.startBatch(versionedBatchDoc(sink.URL), clock)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":1}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","version":1}`), nil)
	e.waitFor("both waiting", func() bool { return e.batchStatus().Waiting == 2 })

	// What another instance does when it delivers version 2 of wf-1.
	ctx := context.Background()
	state, err := reconcile.Open(ctx, e.js, 1)
	require.NoError(t, err)
	_, err = state.Acquire(ctx, "nightly", "wf-1", "2", 1000, time.Minute)
	require.NoError(t, err)
	require.NoError(t, state.Release(ctx, "nightly", "wf-1", "2", 1000, &reconcile.Synced{}))

	clock.Advance(time.Hour)
	e.settledAll("batch acked")
	require.Len(t, sink.sizes(), 1, "records: %+v", e.logRecords("nightly"))
	require.Equal(t, []string{"wf-2@1"}, sink.itemsOf(0), "wf-1's version 1 is not sent after version 2")
	require.Equal(t, []string{"superseded"}, e.outcomesOf("nightly", "wf-1", "1"))
	require.Equal(t, []string{"delivered"}, e.outcomesOf("nightly", "wf-2", "1"))
}

// A batch connector's malformed event is dead-lettered alone and counted
// in the delivery metrics like any other outcome.
func TestMalformedBatchEventIsCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	e, clock := newEnv(t), newFakeClock()
	sink := newBulkSink(t, nil)
	e.startBatch(batchDoc(sink.URL, ""), clock)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2"}`), nil)
	e.waitFor("the malformed event parked, the other waiting", func() bool {
		return len(e.deadLetters("nightly")) == 1 && e.batchStatus().Waiting == 1
	})
	clock.Advance(time.Hour)
	e.settledAll("all settled")
	e.waitFor("both outcomes counted", func() bool {
		c := deliveriesCounted(t, reader)
		return c["dead-lettered"] == 1 && c["delivered"] == 1
	})
}

// deliveriesCounted reads extsync.deliveries by outcome.
func deliveriesCounted(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if m.Name != "extsync.deliveries" || !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				v, _ := dp.Attributes.Value("extsync.outcome")
				out[v.AsString()] += dp.Value
			}
		}
	}
	return out
}
