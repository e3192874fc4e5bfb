package coherence_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/synclog"
)

// Two replicas look for due rounds at once: one runs it, and neither
// runs another before verify.every has passed.
func TestScheduledRoundRunsOnOneReplica(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.deliver(t, fmt.Sprintf("wf-%d", i), 1, "4B")
	}
	e.court.edit("wf-1", "courtroom", "7A")
	e.conn.Verify = &config.Verify{Every: config.Duration(time.Hour), Sample: 100, Rate: config.Rate{N: 100, Per: time.Second}}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	var looks [2]atomic.Int64
	for i, holder := range []string{"replica-a", "replica-b"} {
		s := &coherence.Scheduler{JS: e.js, Kinds: catalog.Default(), Stream: "HMS_EVENTS", Holder: holder,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Tick: 20 * time.Millisecond,
			Looked:     func() { looks[i].Add(1) },
			Connectors: func(context.Context) []config.Connector { return []config.Connector{*e.conn} }}
		wg.Go(func() { require.NoError(t, s.Run(ctx)) })
	}
	var last *coherence.Round
	require.Eventually(t, func() bool {
		var err error
		last, err = coherence.LastRound(e.ctx, e.js, "court")
		return err == nil && last != nil
	}, 10*time.Second, 20*time.Millisecond)
	// Both replicas look again many times; neither may run another round.
	seen := [2]int64{looks[0].Load(), looks[1].Load()}
	require.Eventually(t, func() bool { return looks[0].Load() >= seen[0]+10 && looks[1].Load() >= seen[1]+10 },
		10*time.Second, 5*time.Millisecond)
	cancel()
	wg.Wait()

	require.Equal(t, "schedule", last.Trigger)
	require.Equal(t, 3, last.Checked)
	require.Equal(t, 1, last.Drifted)
	require.Equal(t, "wf-1", last.Entities[0].Key)
	verified := 0
	for _, m := range brokertest.Messages(t, e.js, synclog.Stream, synclog.SubjectPrefix+"court") {
		recs, err := synclog.Decode(m.Data)
		require.NoError(t, err)
		verified += len(recs)
	}
	require.Equal(t, 3, verified, "one round of 3 entities, by one replica")
	require.True(t, e.state(t, "wf-1").Drifted)
}

func TestLeaseIsTakenOnceUntilDueAgain(t *testing.T) {
	e := newEnv(t)
	rounds, err := coherence.OpenRounds(e.ctx, e.js, 1)
	require.NoError(t, err)
	ok, err := rounds.Take(e.ctx, "court", "a", time.Hour, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = rounds.Take(e.ctx, "court", "b", 0, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "held by a")
	require.NoError(t, rounds.Release(e.ctx, "court", "a"))
	ok, err = rounds.Take(e.ctx, "court", "b", time.Hour, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "released, but not due for an hour")
	require.Eventually(t, func() bool {
		ok, err := rounds.Take(e.ctx, "court", "b", 10*time.Millisecond, time.Minute)
		return err == nil && ok
	}, 5*time.Second, 5*time.Millisecond, "due once every has passed since a's round started")
	renewed, err := rounds.Renew(e.ctx, "court", "a", time.Minute)
	require.NoError(t, err)
	require.False(t, renewed, "a's lease is gone")
}
