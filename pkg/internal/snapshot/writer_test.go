package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// versioned reads the entity's version from the body's "version".
var versioned = snapshot.Spec{Key: "id", Version: "version"}

type versionedEvent struct {
	id      string
	version int
}

// publishShuffled publishes entities × versions plain JSON events on
// subject in a random order.
func publishShuffled(t *testing.T, js jetstream.JetStream, subject string, entities, versions int) {
	t.Helper()
	var evs []versionedEvent
	for e := range entities {
		for v := 1; v <= versions; v++ {
			evs = append(evs, versionedEvent{fmt.Sprintf("wf-%02d", e), v})
		}
	}
	rand.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	for _, ev := range evs {
		body := fmt.Sprintf(`{"id":%q,"version":%d,"name":"%s v%d"}`, ev.id, ev.version, ev.id, ev.version)
		_, err := js.Publish(context.Background(), subject, []byte(body))
		require.NoError(t, err)
	}
}

// publish publishes bodies on hms.workflow.updated, in order.
func publish(t *testing.T, js jetstream.JetStream, bodies ...string) {
	t.Helper()
	for _, body := range bodies {
		_, err := js.Publish(context.Background(), "hms.workflow.updated", []byte(body))
		require.NoError(t, err)
	}
}

// caughtUp waits until the writers have written every event published.
func caughtUp(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	_, err := snapshot.CaughtUp(context.Background(), js, "HMS_EVENTS", 10*time.Second)
	require.NoError(t, err)
}

func startWriter(t *testing.T, ctx context.Context, js jetstream.JetStream, specs ...snapshot.Spec) {
	t.Helper()
	c, err := snapshot.Ensure(ctx, js, "HMS_EVENTS", 1)
	require.NoError(t, err)
	w, err := snapshot.NewWriter(ctx, js, c, func() []snapshot.Spec { return specs }, slog.Default())
	require.NoError(t, err)
	w.Batch = 16 // several batches, so the two writers interleave
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
}

// entries reads the spec's entries for subject, keyed by entity id.
func entries(t *testing.T, js jetstream.JetStream, spec snapshot.Spec, subject string) map[string][]snapshot.Entry {
	t.Helper()
	out := map[string][]snapshot.Entry{}
	err := snapshot.Each(context.Background(), js, snapshot.Query{Spec: spec, Subjects: []string{subject}}, func(e snapshot.Entry) error {
		var body struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(e.Data, &body))
		out[body.ID] = append(out[body.ID], e)
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestWriterKeepsTheNewestVersionOfEachEntityWithTwoWriters(t *testing.T) {
	ctx := context.Background()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	brokertest.Provision(t, js)
	publishShuffled(t, js, "hms.workflow.updated", 20, 3)
	startWriter(t, ctx, js, snapshot.DefaultSpec, versioned)
	startWriter(t, ctx, js, snapshot.DefaultSpec, versioned)

	require.Eventually(t, func() bool {
		got := entries(t, js, versioned, "hms.workflow.updated")
		if len(got) != 20 {
			return false
		}
		for _, es := range got {
			if len(es) != 1 || es[0].Version != "3" {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "one entry per entity, version 3")

	// A second event of an entity replaces its entry; an older one,
	// published later, does not.
	publish(t, js, `{"id":"wf-07","version":4,"name":"wf-07 v4"}`, `{"id":"wf-07","version":2,"name":"wf-07 late"}`)
	caughtUp(t, js)
	e, ok, err := snapshot.Newest(ctx, js, versioned, []string{"hms.workflow.*"}, "wf-07")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "4", e.Version)
	require.JSONEq(t, `{"id":"wf-07","version":4,"name":"wf-07 v4"}`, string(e.Data))

	// Connectors that read the key alike share entries: one per entity,
	// and the default spec (no version path of its own) finds the newest.
	e, ok, err = snapshot.Newest(ctx, js, snapshot.DefaultSpec, []string{"hms.>"}, "wf-07")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "4", e.Version)
	st, err := js.Stream(ctx, snapshot.Stream)
	require.NoError(t, err)
	require.EqualValues(t, 20, st.CachedInfo().State.Msgs)
}

func TestCaughtUpFailsClearlyWithoutAWriter(t *testing.T) {
	ctx := context.Background()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	brokertest.Provision(t, js)
	_, err := snapshot.Ensure(ctx, js, "HMS_EVENTS", 1)
	require.NoError(t, err)
	publishShuffled(t, js, "hms.workflow.updated", 2, 1)
	_, err = snapshot.CaughtUp(ctx, js, "HMS_EVENTS", 200*time.Millisecond)
	require.ErrorIs(t, err, snapshot.ErrBehind)
	require.ErrorContains(t, err, "written through event 0 of 2")
}

// An event with no entity key, or not JSON at all, is skipped: the
// writer acks it and goes on.
func TestWriterSkipsEventsWithoutAnEntity(t *testing.T) {
	ctx := context.Background()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	brokertest.Provision(t, js)
	publish(t, js, `not json`, `{"name":"no id"}`, `{"id":"wf-1","version":1}`)
	startWriter(t, ctx, js, versioned)
	caughtUp(t, js)
	got := entries(t, js, versioned, "hms.>")
	require.Len(t, got, 1)
	require.Equal(t, "1", got["wf-1"][0].Version)
}

// A writer that starts with nothing remembered (a restart) writes an
// entity as new; where an entry exists, that write is refused and the
// entry read, so an older event still never replaces a newer entry.
func TestRestartedWriterKeepsNewerEntries(t *testing.T) {
	ctx := context.Background()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	brokertest.Provision(t, js)
	publishShuffled(t, js, "hms.workflow.updated", 5, 3)
	t.Run("first writer", func(t *testing.T) {
		startWriter(t, ctx, js, versioned)
		caughtUp(t, js)
	})
	publish(t, js, `{"id":"wf-01","version":2,"name":"wf-01 late"}`, `{"id":"wf-02","version":5,"name":"wf-02 v5"}`)
	startWriter(t, ctx, js, versioned)
	caughtUp(t, js)

	got := entries(t, js, versioned, "hms.workflow.updated")
	require.Len(t, got, 5)
	for id, es := range got {
		require.Len(t, es, 1, id)
		want := "3"
		if id == "wf-02" {
			want = "5"
		}
		require.Equal(t, want, es[0].Version, id)
	}
}
