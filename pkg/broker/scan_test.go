package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/broker/brokertest"
)

// streamS runs a server with the stream S on s.>, and gives a context
// bounding the test.
func streamS(t *testing.T) (context.Context, jetstream.JetStream) {
	t.Helper()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	require.NoError(t, err)
	return ctx, js
}

func TestScanReadsToTheEndOrFollows(t *testing.T) {
	ctx, js := streamS(t)

	var got []string
	collect := func(m jetstream.Msg) error { got = append(got, string(m.Data())); return nil }
	require.NoError(t, broker.Scan(ctx, js, "S", broker.ScanOptions{}, collect), "an empty stream ends at once")
	require.Empty(t, got)

	for i := range 600 {
		_, err := js.Publish(ctx, fmt.Sprintf("s.%d", i%2), []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	require.NoError(t, broker.Scan(ctx, js, "S", broker.ScanOptions{Filters: []string{"s.1"}}, collect))
	require.Len(t, got, 300, "only the filtered subject, to the end, in batches")
	require.Equal(t, "1", got[0])
	require.Equal(t, "599", got[299])

	got = nil
	followCtx, stopFollow := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- broker.Scan(followCtx, js, "S", broker.ScanOptions{Filters: []string{"s.new"}, Follow: true},
			func(m jetstream.Msg) error {
				if string(m.Data()) == "late" {
					stopFollow()
				}
				return nil
			})
	}()
	_, err := js.Publish(ctx, "s.new", []byte("late"))
	require.NoError(t, err)
	require.ErrorIs(t, <-done, context.Canceled, "following sees a message stored after it started")

	n := 0
	require.NoError(t, broker.Scan(ctx, js, "S", broker.ScanOptions{}, func(jetstream.Msg) error {
		n++
		return broker.ErrStopScan
	}))
	require.Equal(t, 1, n)
}

func TestEnsureKVCreatesOnceAndLeavesAnExistingBucketAlone(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 5})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	again, err := broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "b", History: 10})
	require.NoError(t, err)
	st, err := again.Status(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 5, st.History(), "not reshaped by a caller with other settings")
	e, err := again.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(e.Value()))
}
