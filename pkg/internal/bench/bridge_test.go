package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWatchAcksFailsABridgeThatStopsAcking(t *testing.T) {
	var acked atomic.Int64
	acked.Store(3)
	failed := make(chan error, 1)
	start := time.Now()
	go watchAcks(context.Background(), &acked, 10, func(err error) { failed <- err })
	select {
	case err := <-failed:
		require.True(t, errors.Is(err, errBridgeStalled), err)
		require.Contains(t, err.Error(), "at 3 of 10")
		require.GreaterOrEqual(t, time.Since(start), bridgeStall)
	case <-time.After(3 * bridgeStall):
		t.Fatal("a bridge with no ack for longer than bridgeStall was not failed")
	}

	acked.Store(10)
	done := make(chan struct{})
	go func() { watchAcks(context.Background(), &acked, 10, func(err error) { t.Error(err) }); close(done) }()
	select {
	case <-done:
	case <-time.After(bridgeStall):
		t.Fatal("watchAcks went on after every message was acked")
	}
}
