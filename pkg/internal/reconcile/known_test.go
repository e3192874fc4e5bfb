package reconcile

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A claim made without a write for an entity just read takes the read's
// revision; one on a stale remembered revision is refused and changes
// nothing, so a failed attempt never leaves a state that looks read.
func TestClaimAloneTrustsOnlyWhatWasRead(t *testing.T) {
	var k known
	claimed := State{Version: "3", Claim: &Claim{Version: "4", Seq: 4}}
	require.True(t, k.claimAlone("court.wf-1", claimed, 7, nil))
	st, rev, ok := k.get("court.wf-1")
	require.True(t, ok)
	require.Equal(t, uint64(7), rev)
	require.Equal(t, "4", st.Claim.Version)

	k.set("court.wf-2", State{Version: "5"}, 9, false)
	require.False(t, k.claimAlone("court.wf-2", claimed, 8, nil), "remembered at 9, not 8")
	st, rev, _ = k.get("court.wf-2")
	require.Equal(t, uint64(9), rev)
	require.Nil(t, st.Claim)
	require.Nil(t, k.releasing("court.wf-2"))
}
