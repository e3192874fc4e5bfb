package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Events go round-robin over the entities (event n is entity n%3's
// version n/3+1): receiving one entity's version 1 after its version 2
// is out of order, a repeat of the newest is not, nor are other entities.
func TestOrderCheckCountsOlderAfterNewer(t *testing.T) {
	o := newOrderCheck(3)
	for _, n := range []int{0, 1, 3, 3, 2, 0, 4, 1, 6} {
		o.see(n)
	}
	require.Equal(t, int64(2), o.count(), "entity 0's version 1 after its 2, entity 1's after its 2")
}
