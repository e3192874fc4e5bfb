package reconcile_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// A delivered deletion is recorded with its version: an older version
// after it is superseded, and a newer one, once delivered, is a record
// again.
func TestADeletionIsRecordedAndStillOrders(t *testing.T) {
	st, ctx := openStore(t)
	var err error

	require.NoError(t, st.Release(ctx, "court", "wf-1", "1", 1, &reconcile.Synced{ETag: `"a"`, Snapshot: reconcile.RecordJSON(map[string]any{"n": "x"})}))
	_, err = st.Acquire(ctx, "court", "wf-1", "2", 2, time.Second)
	require.NoError(t, err)
	require.NoError(t, st.Release(ctx, "court", "wf-1", "2", 2, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"id": "wf-1"}), Deleted: true}))
	got, err := st.Recall(ctx, "court", "wf-1")
	require.NoError(t, err)
	require.True(t, got.Deleted)
	require.Equal(t, "2", got.Version)
	require.Empty(t, got.ETag, "a removed record has no version")

	_, err = st.Acquire(ctx, "court", "wf-1", "1", 3, time.Second)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "an older update must not put the record back")

	_, err = st.Acquire(ctx, "court", "wf-1", "3", 4, time.Second)
	require.NoError(t, err)
	require.NoError(t, st.Release(ctx, "court", "wf-1", "3", 4, &reconcile.Synced{ETag: `"b"`, Snapshot: reconcile.RecordJSON(map[string]any{"n": "y"})}))
	got, err = st.Recall(ctx, "court", "wf-1")
	require.NoError(t, err)
	require.False(t, got.Deleted, "a newer update put the record back")
	require.Equal(t, "3", got.Version)
}
