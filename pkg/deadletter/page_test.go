package deadletter_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
)

// Pages follow each other without gap or repeat, keep the filter, and
// the last one says there is no next.
func TestPageWalksTheSelection(t *testing.T) {
	ctx, js := setup(t)
	for i := uint64(1); i <= 7; i++ {
		park(t, ctx, js, "court", i, "permanent", "refused")
		park(t, ctx, js, "clinic", i, "exhausted", "timeout")
	}
	f := deadletter.Filter{Connector: "court"}
	var all []string
	after := uint64(0)
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		got, next, err := deadletter.Page(ctx, js, f, after, 3)
		require.NoError(t, err)
		all = append(all, ids(got)...)
		if next == 0 {
			require.Len(t, got, 1, "7 = 3 + 3 + 1")
			break
		}
		require.Len(t, got, 3)
		after = next
	}
	require.Equal(t, []string{"court-1", "court-2", "court-3", "court-4", "court-5", "court-6", "court-7"}, all)

	got, next, err := deadletter.Page(ctx, js, deadletter.Filter{Reason: "TIME"}, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, 7)
	require.Zero(t, next)

	e, err := deadletter.Get(ctx, js, got[0].Seq)
	require.NoError(t, err)
	require.Equal(t, "clinic-1", e.EventID)
	require.JSONEq(t, `{"id":"wf-1"}`, string(e.Body))
	_, err = deadletter.Get(ctx, js, 9999)
	require.True(t, errors.Is(err, deadletter.ErrNotFound), "%v", err)

	depth, err := deadletter.Depth(ctx, js)
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{"court": 7, "clinic": 7}, depth)
}
