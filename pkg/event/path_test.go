package event_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/event"
)

func TestSetPathWritesWhereLookupReadsWithoutTouchingSharedObjects(t *testing.T) {
	judge := map[string]any{"name": "Okafor"}
	record := map[string]any{"judge": judge, "room": "4B"}

	require.NoError(t, event.SetPath(record, "judge.seat", "left"))
	require.NoError(t, event.SetPath(record, "court.building.floor", 3))
	v, ok := event.Lookup(record, "judge.seat")
	require.True(t, ok)
	require.Equal(t, "left", v)
	v, _ = event.Lookup(record, "court.building.floor")
	require.Equal(t, 3, v)
	require.Equal(t, map[string]any{"name": "Okafor"}, judge, "the object the record shared is copied, not written into")

	require.ErrorContains(t, event.SetPath(record, "room.number", 7), `"room" holds a value, not an object`)
}
