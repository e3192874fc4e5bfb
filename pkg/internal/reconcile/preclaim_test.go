package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// A claim started ahead is the same claim Acquire makes: written when
// confirmed, not started where Acquire must read or wait, taken over
// the slow way when the remembered state was stale, and gone at once
// when abandoned (another instance does not wait for it to lapse).
func TestAcquireAsyncClaimsAsAcquireDoes(t *testing.T) {
	stores, _, ctx := openStores(t, 2)
	a, b := stores[0], stores[1]
	const hold = time.Minute
	delivered := func(s *reconcile.Store, v string, seq uint64) {
		t.Helper()
		_, err := s.Acquire(ctx, "court", "wf-1", v, seq, hold)
		require.NoError(t, err)
		require.NoError(t, s.Release(ctx, "court", "wf-1", v, seq, &reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"v": v})}))
	}
	seen := func() reconcile.State { // read by b, as another instance sees it
		t.Helper()
		st, err := b.Recall(ctx, "court", "wf-1")
		require.NoError(t, err)
		return st
	}
	delivered(a, "1", 1)

	c := a.AcquireAsync("court", "wf-1", "2", 2, hold, false)
	require.NotNil(t, c)
	st, err := c.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "1", st.Version, "the state as it was")
	require.Equal(t, uint64(2), seen().Claim.Seq)
	require.Nil(t, a.AcquireAsync("court", "wf-1", "3", 3, hold, false), "a claim of its own is in the way")
	require.NoError(t, a.Release(ctx, "court", "wf-1", "2", 2, &reconcile.Synced{}))
	require.Nil(t, a.AcquireAsync("court", "wf-1", "1", 4, hold, false), "an older version is Acquire's to refuse")

	c = a.AcquireAsync("court", "wf-1", "3", 5, hold, false)
	require.NotNil(t, c)
	c.Abandon(ctx)
	require.Nil(t, seen().Claim, "abandoned: no claim left")
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = b.Acquire(quick, "court", "wf-1", "3", 6, hold)
	require.NoError(t, err, "another instance claims at once")
	require.NoError(t, b.Release(ctx, "court", "wf-1", "3", 6, &reconcile.Synced{}))

	// a remembers version 2 at an old revision: its write is refused,
	// and Wait claims after reading.
	c = a.AcquireAsync("court", "wf-1", "4", 7, hold, false)
	require.NotNil(t, c)
	st, err = c.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, "3", st.Version, "read after the refused write")
	require.Equal(t, uint64(7), seen().Claim.Seq)
}

// A claim taken ahead whose job then waited a quarter of the hold is
// taken again for a whole hold, so it cannot lapse while its event is
// being sent.
func TestAClaimTakenAheadLongAgoIsRenewed(t *testing.T) {
	stores, _, ctx := openStores(t, 2)
	a, b := stores[0], stores[1]
	const hold = 2 * time.Second
	started := time.Now()
	c := a.AcquireAsync("court", "wf-1", "1", 1, hold, false)
	require.NotNil(t, c)
	var first time.Time
	require.Eventually(t, func() bool {
		st, err := b.Recall(ctx, "court", "wf-1")
		if err != nil || st.Claim == nil {
			return false
		}
		first = st.Claim.Until
		return true
	}, 5*time.Second, 10*time.Millisecond, "the claim is written before Wait")
	require.Eventually(t, func() bool { return time.Since(started) > hold/2 }, 5*time.Second, 10*time.Millisecond)

	_, err := c.Wait(ctx)
	require.NoError(t, err)
	st, err := b.Recall(ctx, "court", "wf-1")
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Claim.Seq)
	require.True(t, st.Claim.Until.After(first), "renewed: %v, first %v", st.Claim.Until, first)
}
