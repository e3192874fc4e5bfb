package connstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/connstore"
)

func TestHistoryNewestFirstWithRemovals(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := connstore.Open(ctx, js, 1)
	require.NoError(t, err)
	_, err = reg.PutOne(ctx, "court", []byte("one"))
	require.NoError(t, err)
	_, err = reg.PutOne(ctx, "court", []byte("two"))
	require.NoError(t, err)
	require.NoError(t, reg.Remove(ctx, "court"))

	hist, err := reg.History(ctx, "court")
	require.NoError(t, err)
	require.Len(t, hist, 3)
	require.True(t, hist[0].Removed)
	require.Equal(t, "two", string(hist[1].Doc))
	require.Equal(t, "one", string(hist[2].Doc))
	require.Greater(t, hist[1].Revision, hist[2].Revision)

	_, err = reg.History(ctx, "nope")
	require.True(t, errors.Is(err, connstore.ErrUnknown), "%v", err)
}
