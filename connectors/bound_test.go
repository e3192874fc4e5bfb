package connectors_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func TestBoundKeepsTheSoonerDeadline(t *testing.T) {
	ctx, cancel := connectors.Bound(context.Background(), time.Second)
	defer cancel()
	d, ok := ctx.Deadline()
	require.True(t, ok, "no deadline: the timeout is the only bound")
	require.WithinDuration(t, time.Now().Add(time.Second), d, 100*time.Millisecond)

	soon, cancelSoon := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelSoon()
	kept, cancelKept := connectors.Bound(soon, time.Minute)
	defer cancelKept()
	require.Equal(t, soon, kept, "an earlier deadline stays")

	late, cancelLate := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLate()
	short, cancelShort := connectors.Bound(late, time.Second)
	defer cancelShort()
	d, _ = short.Deadline()
	require.WithinDuration(t, time.Now().Add(time.Second), d, 100*time.Millisecond, "a later deadline is shortened")
}
