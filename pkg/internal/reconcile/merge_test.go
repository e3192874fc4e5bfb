package reconcile_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

func TestMergeTakesEachSidesOwnChanges(t *testing.T) {
	base := map[string]any{"judge": "Okafor", "room": "4B", "slots": []any{1.0}, "panel": map[string]any{"chair": "Lind", "size": 3.0}}
	local := map[string]any{"judge": "Reyes", "room": "4B", "slots": []any{1.0}, "panel": map[string]any{"chair": "Lind", "size": 5.0}}
	remote := map[string]any{"judge": "Okafor", "room": "2A", "slots": []any{1.0}, "note": "clerk hold",
		"panel": map[string]any{"chair": "Moss", "size": 3.0}}
	merged, conflicts := reconcile.Merge(base, local, remote, nil)
	require.Empty(t, conflicts)
	require.Equal(t, map[string]any{"judge": "Reyes", "room": "2A", "slots": []any{1.0}, "note": "clerk hold",
		"panel": map[string]any{"chair": "Moss", "size": 5.0}}, merged)
}

func TestMergeBothChangedFollowsPreferOrReports(t *testing.T) {
	base := map[string]any{"room": "4B", "judge": "Okafor", "status": "draft"}
	local := map[string]any{"room": "1A", "judge": "Reyes", "status": "approved"}
	remote := map[string]any{"room": "2A", "judge": "Moss", "status": "approved"}
	merged, conflicts := reconcile.Merge(base, local, remote, map[string]reconcile.Prefer{"room": reconcile.PreferRemote})
	require.Equal(t, []string{"judge"}, conflicts, "no rule for judge")
	require.Equal(t, "2A", merged["room"])
	require.Equal(t, "approved", merged["status"], "both made the same change")
	merged, conflicts = reconcile.Merge(base, local, remote,
		map[string]reconcile.Prefer{"room": reconcile.PreferRemote, "judge": reconcile.PreferLocal})
	require.Empty(t, conflicts)
	require.Equal(t, "Reyes", merged["judge"])
}

func TestMergeDeletions(t *testing.T) {
	base := map[string]any{"a": 1.0, "b": 2.0}
	local := map[string]any{"a": 1.0}            // we dropped b
	remote := map[string]any{"a": 1.0, "b": 2.0} // they kept it untouched
	merged, conflicts := reconcile.Merge(base, local, remote, nil)
	require.Empty(t, conflicts)
	require.Equal(t, map[string]any{"a": 1.0}, merged)
}
