package reconcile_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

func openStore(t *testing.T) (*reconcile.Store, context.Context) {
	t.Helper()
	stores, _, ctx := openStores(t, 1)
	return stores[0], ctx
}

// openStores opens n stores (n instances) on one new server.
func openStores(t *testing.T, n int) ([]*reconcile.Store, jetstream.JetStream, context.Context) {
	t.Helper()
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	stores := make([]*reconcile.Store, n)
	for i := range stores {
		st, err := reconcile.Open(ctx, js, 1)
		require.NoError(t, err)
		stores[i] = st
	}
	return stores, js, ctx
}

func TestKeysListsOneConnectorsEntitiesAndNamesHashedOnes(t *testing.T) {
	st, ctx := openStore(t)
	for _, e := range []string{"wf-1", "wf-2", "case 7/a"} {
		require.NoError(t, st.Release(ctx, "court", e, "1", 1, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"a": 1})}))
	}
	require.NoError(t, st.Release(ctx, "court-x", "wf-9", "1", 1, &reconcile.Synced{}))
	keys, count := eachKey(t, ctx, st, "court")
	require.Equal(t, 3, count)
	slices.Sort(keys)
	hashed := reconcile.Key("court", "case 7/a")
	require.Equal(t, slices.Sorted(slices.Values([]string{"court.wf-1", "court.wf-2", hashed})), keys)
	require.True(t, reconcile.HashedKey("court", hashed))
	require.Empty(t, reconcile.EntityOf("court", hashed))
	require.Equal(t, "wf-1", reconcile.EntityOf("court", "court.wf-1"))
}

func TestEachKeyReadsPagesAndSkipsDeletedKeys(t *testing.T) {
	stores, js, ctx := openStores(t, 1)
	st := stores[0]
	keys, count := eachKey(t, ctx, st, "court")
	require.Empty(t, keys)
	require.Zero(t, count)

	const n = 600 // more than two pages
	for i := range n {
		require.NoError(t, st.Release(ctx, "court", fmt.Sprintf("wf-%d", i), "1", uint64(i+1), &reconcile.Synced{}))
	}
	kv, err := js.KeyValue(ctx, reconcile.Bucket)
	require.NoError(t, err)
	require.NoError(t, kv.Delete(ctx, "court.wf-5"))
	keys, count = eachKey(t, ctx, st, "court")
	require.Len(t, keys, n-1)
	require.NotContains(t, keys, "court.wf-5")
	require.Equal(t, n, count, "an upper bound: the deleted key is counted")
}

func eachKey(t *testing.T, ctx context.Context, st *reconcile.Store, connector string) ([]string, int) {
	t.Helper()
	var keys []string
	count := -1
	require.NoError(t, st.EachKey(ctx, connector, func(n int) { count = n }, func(k string) error {
		keys = append(keys, k)
		return nil
	}))
	return keys, count
}

func TestSetDriftedWritesOnlyWhileTheVerifiedDeliveryIsTheLast(t *testing.T) {
	st, ctx := openStore(t)
	require.NoError(t, st.Release(ctx, "court", "wf-1", "1", 10, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"a": 1})}))
	k := reconcile.Key("court", "wf-1")
	require.NoError(t, st.SetDrifted(ctx, k, 10, true))
	got, _, err := st.Read(ctx, k)
	require.NoError(t, err)
	require.True(t, got.Drifted)
	require.Equal(t, map[string]any{"a": float64(1)}, got.Record(), "the rest of the state is kept")

	require.NoError(t, st.Release(ctx, "court", "wf-1", "2", 11, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"a": 2})}))
	require.ErrorIs(t, st.SetDrifted(ctx, k, 10, true), reconcile.ErrMoved)
	got, _, err = st.Read(ctx, k)
	require.NoError(t, err)
	require.False(t, got.Drifted, "a delivery clears the mark; a stale verdict does not set it again")
}

func TestAcquireRepairClaimsTheDeliveredVersionAgainAndRecordsIt(t *testing.T) {
	st, ctx := openStore(t)
	require.NoError(t, st.Release(ctx, "court", "wf-1", "3", 30, &reconcile.Synced{ETag: "e3", Snapshot: reconcile.RecordJSON(map[string]any{"a": 3})}))
	k := reconcile.Key("court", "wf-1")
	require.NoError(t, st.SetDrifted(ctx, k, 30, true))

	_, err := st.Acquire(ctx, "court", "wf-1", "3", 30, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "a plain replay of the delivered version is superseded")
	_, err = st.AcquireRepair(ctx, "court", "wf-1", "2", 20, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "a repair never sends an older version")

	got, err := st.AcquireRepair(ctx, "court", "wf-1", "3", 30, time.Minute)
	require.NoError(t, err)
	require.True(t, got.Drifted, "the claim sees the mark, so skip unchanged does not hide the repair")
	require.NoError(t, st.Release(ctx, "court", "wf-1", "3", 30, &reconcile.Synced{ETag: "e3b", Snapshot: reconcile.RecordJSON(map[string]any{"a": 3})}))
	after, _, err := st.Read(ctx, k)
	require.NoError(t, err)
	require.False(t, after.Drifted)
	require.Equal(t, "e3b", after.ETag)
	require.Nil(t, after.Claim)

	require.NoError(t, st.Release(ctx, "court", "wf-1", "4", 40, &reconcile.Synced{}))
	_, err = st.AcquireRepair(ctx, "court", "wf-1", "3", 30, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "once 4 is delivered, repairing 3 would go back")
}
