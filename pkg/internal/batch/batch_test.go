package batch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/batch"
)

func TestScheduleNext(t *testing.T) {
	dublin, err := time.LoadLocation("Europe/Dublin")
	require.NoError(t, err)
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, dublin)
		require.NoError(t, err)
		return v
	}
	for _, tc := range []struct {
		s        batch.Schedule
		now, due string
	}{
		{batch.Schedule{Period: time.Hour, Loc: dublin}, "2026-11-23 10:20:00", "2026-11-23 11:00:00"},
		{batch.Schedule{Period: time.Hour, Loc: dublin}, "2026-11-23 11:00:00", "2026-11-23 12:00:00"},
		{batch.Schedule{Hour: 2, Loc: dublin}, "2026-11-23 10:20:00", "2026-11-24 02:00:00"},
		{batch.Schedule{Hour: 2, Loc: dublin}, "2026-11-23 01:59:59", "2026-11-23 02:00:00"},
		{batch.Schedule{Period: 6 * time.Hour, Hour: 2, Loc: dublin}, "2026-11-23 09:00:00", "2026-11-23 14:00:00"},
		{batch.Schedule{Period: 6 * time.Hour, Hour: 2, Loc: dublin}, "2026-11-23 21:00:00", "2026-11-24 02:00:00"},
		{batch.Schedule{Period: 6 * time.Hour, Hour: 2, Loc: dublin}, "2026-11-23 00:30:00", "2026-11-23 02:00:00"},
	} {
		got := tc.s.Next(at(tc.now))
		require.Equal(t, at(tc.due), got.In(dublin), "%+v after %s", tc.s, tc.now)
	}
}

func TestCoalescerKeepsTheNewestVersionPerEntity(t *testing.T) {
	c := batch.NewCoalescer[string]()
	var superseded []string
	add := func(key, version string, seq uint64) {
		if s := c.Add(batch.Item[string]{Key: key, Version: version, Seq: seq, Size: 10, Value: fmt.Sprintf("%s@%s", key, version)}); s != nil {
			superseded = append(superseded, s.Value)
		}
	}
	add("wf-1", "2", 1)
	add("wf-2", "1", 2)
	add("wf-1", "10", 3) // numeric: 10 > 2
	add("wf-1", "3", 4)  // older, arriving late
	add("", "", 5)       // no key: never coalesced
	add("", "", 6)
	add("wf-3", "", 7)
	add("wf-3", "", 8)  // no version: stream order
	add("wf-2", "1", 2) // wf-2 delivered again: no one superseded
	require.Equal(t, []string{"wf-1@2", "wf-1@3", "wf-3@"}, superseded)
	require.Equal(t, 5, c.Len())
	require.Equal(t, 50, c.Bytes())
	items := c.Take()
	var got []string
	for _, it := range items {
		got = append(got, fmt.Sprintf("%s@%s#%d", it.Key, it.Version, it.Seq))
	}
	require.Equal(t, []string{"wf-1@10#3", "wf-2@1#2", "@#5", "@#6", "wf-3@#8"}, got)
	require.Zero(t, c.Len())
}

func TestNewerComparesTimesAsText(t *testing.T) {
	require.True(t, batch.Newer("2026-11-23T10:00:00Z", 1, "2026-11-22T23:00:00Z", 2))
	require.False(t, batch.Newer("9", 5, "10", 1))
}
