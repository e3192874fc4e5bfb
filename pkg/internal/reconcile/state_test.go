package reconcile_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// Instances racing to record versions of one entity leave the newest:
// every write is a compare-and-set that re-reads on a lost race.
func TestVersionRaceLeavesTheNewest(t *testing.T) {
	stores, _, ctx := openStores(t, 3)
	var wg sync.WaitGroup
	for v := 1; v <= 30; v++ {
		wg.Go(func() {
			st := stores[v%3]
			require.NoError(t, st.Release(ctx, "court", "wf-1", fmt.Sprint(v), uint64(v),
				&reconcile.Synced{ETag: fmt.Sprint(v)}))
		})
	}
	wg.Wait()
	_, err := stores[0].Acquire(ctx, "court", "wf-1", "30", 30, time.Second)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "30 was recorded: 30 itself is not newer")
	got, err := stores[0].Acquire(ctx, "court", "wf-1", "31", 31, time.Second)
	require.NoError(t, err)
	require.Equal(t, "30", got.Version)
	require.Equal(t, "30", got.ETag)
}

func TestClaimHeldElsewhereMakesOlderSupersededAndNewerWait(t *testing.T) {
	st, ctx := openStore(t)
	var err error
	_, err = st.Acquire(ctx, "court", "wf-1", "5", 5, time.Minute)
	require.NoError(t, err)
	_, err = st.Acquire(ctx, "court", "wf-1", "4", 4, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "an older version while 5 is being sent")
	done := make(chan error, 1)
	go func() { _, err := st.Acquire(ctx, "court", "wf-1", "6", 6, time.Minute); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("6 must wait for 5 to finish, got %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, st.Release(ctx, "court", "wf-1", "5", 5, &reconcile.Synced{}))
	require.NoError(t, <-done, "6 goes once 5 is done")
}

// An instance that sent 5 and died before its release leaves its claim
// to lapse: 5 may be the system's record, so another instance must not
// send 4 after it; 6 takes the lapsed claim over.
func TestLapsedClaimStillSupersedesOlderVersions(t *testing.T) {
	stores, _, ctx := openStores(t, 2)
	died, other := stores[0], stores[1]
	const hold = 50 * time.Millisecond
	_, err := died.Acquire(ctx, "court", "wf-1", "5", 5, hold)
	require.NoError(t, err)
	lapses := time.Now().Add(hold)
	require.Eventually(t, func() bool { return time.Now().After(lapses) }, time.Second, 5*time.Millisecond)

	_, err = other.Acquire(ctx, "court", "wf-1", "4", 4, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "4 after a claim on 5 that lapsed")
	_, err = other.Acquire(ctx, "court", "wf-1", "5", 5, time.Minute)
	require.NoError(t, err, "5 itself, redelivered, takes its claim again")
	require.NoError(t, other.Release(ctx, "court", "wf-1", "5", 5, &reconcile.Synced{}))
	_, err = died.Acquire(ctx, "court", "wf-1", "6", 6, hold)
	require.NoError(t, err)
	lapses = time.Now().Add(hold)
	require.Eventually(t, func() bool { return time.Now().After(lapses) }, time.Second, 5*time.Millisecond)
	_, err = other.Acquire(ctx, "court", "wf-1", "7", 7, time.Minute)
	require.NoError(t, err, "a newer version takes a lapsed claim over")
}

// A repair may send the version last delivered once more; an older one
// stays superseded.
func TestAcquireRepairLetsTheDeliveredVersionThroughOnce(t *testing.T) {
	st, ctx := openStore(t)
	var err error
	_, err = st.Acquire(ctx, "court", "wf-1", "5", 5, time.Minute)
	require.NoError(t, err)
	require.NoError(t, st.Release(ctx, "court", "wf-1", "5", 5, &reconcile.Synced{}))
	_, err = st.Acquire(ctx, "court", "wf-1", "5", 5, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "a plain redelivery of 5 is stale")
	_, err = st.AcquireRepair(ctx, "court", "wf-1", "4", 4, time.Minute)
	require.ErrorIs(t, err, reconcile.ErrSuperseded, "an older version stays stale")
	_, err = st.AcquireRepair(ctx, "court", "wf-1", "5", 5, time.Minute)
	require.NoError(t, err, "the repair of 5 goes through")
}
