package coherence_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// A repair sends the entity's newest version as the snapshot keeps it:
// the event last delivered may have left the event stream (its max age),
// and a newer one may be waiting.
func TestRepairSendsTheNewestVersionFromTheSnapshot(t *testing.T) {
	e := newEnv(t)
	runWriter(t, e.js)
	e.deliver(t, "wf-1", 1, "4B")
	e.deliver(t, "wf-2", 1, "4B")
	_, err := snapshot.CaughtUp(e.ctx, e.js, "HMS_EVENTS", 10*time.Second)
	require.NoError(t, err)
	// The entry is replaced: its write was conditional on the one before.
	newer, err := e.js.Publish(e.ctx, "hms.workflow.updated", []byte(`{"id":"wf-1","version":2,"name":"Attorney Rotation","room":"9C"}`))
	require.NoError(t, err)
	_, err = snapshot.CaughtUp(e.ctx, e.js, "HMS_EVENTS", 10*time.Second)
	require.NoError(t, err)
	st, err := e.js.Stream(e.ctx, "HMS_EVENTS")
	require.NoError(t, err)
	require.NoError(t, st.Purge(e.ctx), "every event aged out")

	e.court.edit("wf-1", "courtroom", "7A")
	c := e.checker()
	c.Repair = true
	res, err := c.Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Repaired, "%+v", res.Entities)

	sent := brokertest.Messages(t, e.js, deadletter.ReplayStream, deadletter.ReplaySubjectPrefix+"court")
	require.Len(t, sent, 1)
	require.JSONEq(t, `{"id":"wf-1","version":2,"name":"Attorney Rotation","room":"9C"}`, string(sent[0].Data))
	require.Equal(t, fmt.Sprint(newer.Sequence), sent[0].Header.Get(deadletter.HeaderStreamSeq))
	require.Equal(t, "hms.workflow.updated", sent[0].Header.Get(deadletter.HeaderSubject))
	require.NotEmpty(t, sent[0].Header.Get(deadletter.HeaderRepair))
}

func runWriter(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	c, err := snapshot.Ensure(ctx, js, "HMS_EVENTS", 1)
	require.NoError(t, err)
	w, err := snapshot.NewWriter(ctx, js, c, func() []snapshot.Spec { return []snapshot.Spec{snapshot.DefaultSpec} }, slog.Default())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
}
