package publish_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/publish"
)

func TestPublishAsyncStoresEveryEventOnce(t *testing.T) {
	e := setup(t)
	const n = 2000
	pending := make([]publish.Pending, 0, n+1)
	for i := range n {
		p, err := e.pub.PublishAsync(e.ctx, "hms.workflow.updated",
			map[string]any{"id": fmt.Sprintf("wf-%d", i%50), "n": i})
		require.NoError(t, err)
		pending = append(pending, p)
	}
	// A module retrying a publish with the same id must not store it twice.
	again, err := e.pub.PublishAsync(e.ctx, "hms.workflow.updated", map[string]any{"id": "wf-0"},
		publish.WithID(pending[0].ID))
	require.NoError(t, err)
	pending = append(pending, again)

	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, e.pub.Wait(ctx))
	ids := map[string]bool{}
	for _, p := range pending {
		select {
		case ack := <-p.Future.Ok():
			require.Equal(t, streamName, ack.Stream)
		case err := <-p.Future.Err():
			t.Fatalf("event %s: %v", p.ID, err)
		}
		ids[p.ID] = true
	}
	require.Len(t, ids, n)
	require.EqualValues(t, n, e.count(t), "the repeat of an id is deduplicated")
}

func TestPublishAsyncRefusesBadInputBeforeSending(t *testing.T) {
	e := setup(t)
	_, err := e.pub.PublishAsync(e.ctx, "other.subject", map[string]any{"id": "x"})
	require.True(t, errors.Is(err, publish.ErrInvalid), "got %v", err)
	_, err = e.pub.PublishAsync(e.ctx, "hms.workflow.updated", []int{1, 2})
	require.True(t, errors.Is(err, publish.ErrInvalid), "got %v", err)
	require.Zero(t, e.count(t))
}

// BenchmarkPublishAsync publishes b.N 512-byte-ish events and waits for
// every PubAck; events/s is the SDK's async throughput.
func BenchmarkPublishAsync(b *testing.B) {
	e := setup(b)
	data := map[string]any{"id": "wf-1", "name": "Attorney Rotation", "pad": string(make([]byte, 300))}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := e.pub.PublishAsync(e.ctx, "hms.workflow.updated", data); err != nil {
			b.Fatal(err)
		}
	}
	if err := e.pub.Wait(e.ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
