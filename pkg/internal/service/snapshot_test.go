package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// store is an external system keeping the last body sent per path, and
// every request in the order received.
type store struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
}

type received struct {
	path    string
	version float64
}

func newStore(t *testing.T) *store {
	s := &store{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Version float64 `json:"version"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		s.mu.Lock()
		s.requests = append(s.requests, received{r.URL.Path, body.Version})
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *store) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.requests...)
}

// publishVersions publishes versions 1..n of each entity, interleaved.
func publishVersions(t *testing.T, js jetstream.JetStream, subject string, entities, versions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for v := 1; v <= versions; v++ {
		for e := range entities {
			body := fmt.Sprintf(`{"id":"wf-%02d","version":%d}`, e, v)
			_, err := js.Publish(ctx, subject, []byte(body))
			require.NoError(t, err)
		}
	}
}

// newestOnce says whether reqs hold each of n entities exactly once, at
// version want.
func newestOnce(reqs []received, n int, want float64) error {
	seen := map[string]int{}
	for _, r := range reqs {
		if r.version != want {
			return fmt.Errorf("%s sent at version %v", r.path, r.version)
		}
		seen[r.path]++
	}
	for e := range n {
		if p := fmt.Sprintf("/wf-%02d", e); seen[p] != 1 {
			return fmt.Errorf("%s sent %d times", p, seen[p])
		}
	}
	return nil
}

func TestStartSnapshotSendsTheNewestVersionOfEachEntityThenNewEvents(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	first := newStore(t)
	in := startInstance(t, ns, doc("first", "hms.workflow.updated", first.URL, "    version: version\n"), noEnv)
	publishVersions(t, js, "hms.workflow.updated", 20, 3)
	require.Eventually(t, func() bool { return newestOnce(lastPerPath(first.received()), 20, 3) == nil },
		10*time.Second, 10*time.Millisecond)

	second := newStore(t)
	rev := apply(t, js, doc("second", "hms.workflow.*", second.URL, "    version: version\n    start: snapshot\n"))[0].Revision
	in.applied(t, "second", rev)
	require.Eventually(t, func() bool { return len(second.received()) >= 20 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, newestOnce(second.received(), 20, 3))
	require.Len(t, in.log.lines("seeded from the snapshot", "connector=second", "entities=20"), 1)

	// Events after the seed come live, once.
	_, err := js.Publish(context.Background(), "hms.workflow.updated", []byte(`{"id":"wf-04","version":4}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(second.received()) == 21 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, received{"/wf-04", 4}, second.received()[20])
	_, ok, err := snapshot.Newest(context.Background(), js, snapshot.DefaultSpec, []string{"hms.>"}, "wf-04")
	require.NoError(t, err)
	require.True(t, ok)
}

// lastPerPath is the last request of each path.
func lastPerPath(reqs []received) []received {
	last := map[string]received{}
	var order []string
	for _, r := range reqs {
		if _, ok := last[r.path]; !ok {
			order = append(order, r.path)
		}
		last[r.path] = r
	}
	out := make([]received, 0, len(order))
	for _, p := range order {
		out = append(out, last[p])
	}
	return out
}

// With a bounded event stream, a connector starting from the snapshot
// still gets every entity's newest version after their events aged out.
func TestStartSnapshotAfterTheEventsAgedOut(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	first := newStore(t)
	in := startInstanceWith(t, ns, doc("first", "hms.workflow.updated", first.URL, "    version: version\n"), noEnv,
		func(s *config.Settings) { s.StreamMaxAge = 2 * time.Second })
	require.Len(t, in.log.lines("event stream max age set", "max_age=2s", "was=0s"), 1)
	publishVersions(t, js, "hms.workflow.updated", 20, 3)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		st, err := js.Stream(ctx, "HMS_EVENTS")
		return err == nil && st.CachedInfo().State.Msgs == 0
	}, 30*time.Second, 50*time.Millisecond, "the events aged out")

	second := newStore(t)
	rev := apply(t, js, doc("second", "hms.workflow.updated", second.URL, "    version: version\n    start: snapshot\n"))[0].Revision
	in.applied(t, "second", rev)
	require.Eventually(t, func() bool { return len(second.received()) >= 20 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, newestOnce(second.received(), 20, 3))
}

// Two instances seed a new connector at once: each entity is still sent
// once (the seeds' message ids make the second a duplicate), and both
// instances run the connector.
func TestStartSnapshotOnTwoInstances(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	first := newStore(t)
	file := doc("first", "hms.workflow.updated", first.URL, "    version: version\n")
	a := startInstance(t, ns, file, noEnv)
	b := startInstance(t, ns, file, noEnv)
	publishVersions(t, js, "hms.workflow.updated", 20, 3)

	second := newStore(t)
	rev := apply(t, js, doc("second", "hms.workflow.updated", second.URL, "    version: version\n    start: snapshot\n"))[0].Revision
	a.applied(t, "second", rev)
	b.applied(t, "second", rev)
	require.Eventually(t, func() bool { return len(second.received()) >= 20 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, newestOnce(second.received(), 20, 3))
	_, err := js.Publish(context.Background(), "hms.workflow.updated", []byte(`{"id":"wf-09","version":4}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(second.received()) == 21 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, received{"/wf-09", 4}, second.received()[20])
}

// A key path no connector used before has no entries yet: the connector
// starts from the stream's history instead, and says so.
func TestStartSnapshotWithANewKeyPathStartsFromHistory(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	first := newStore(t)
	in := startInstance(t, ns, doc("first", "hms.workflow.updated", first.URL, "    version: version\n"), noEnv)
	publishVersions(t, js, "hms.workflow.updated", 20, 3)

	second := newStore(t)
	conn := fmt.Sprintf("connectors:\n  - name: second\n    kind: http\n    subjects: [hms.workflow.updated]\n"+
		"    key: version\n    start: snapshot\n    ordering: none\n    http: {url: \"%s/{id}\"}\n", second.URL)
	rev := apply(t, js, conn)[0].Revision
	in.applied(t, "second", rev)
	require.Len(t, in.log.lines("starting from the stream's history instead", "connector=second", "key=version"), 1)
	require.Eventually(t, func() bool { return len(second.received()) == 60 }, 10*time.Second, 10*time.Millisecond,
		"every event the stream holds")
}

// A new system never held an entity whose newest event deletes it: the
// seed leaves the deletion out instead of sending a DELETE.
func TestStartSnapshotLeavesDeletedEntitiesOut(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	first := newStore(t)
	in := startInstance(t, ns, doc("first", "hms.workflow.updated", first.URL, "    version: version\n"), noEnv)
	publishVersions(t, js, "hms.workflow.updated", 20, 3)
	_, err := js.Publish(context.Background(), "hms.workflow.updated", []byte(`{"id":"wf-03","version":4,"status":"cancelled"}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(first.received()) == 61 }, 10*time.Second, 10*time.Millisecond)

	second := newStore(t)
	rev := apply(t, js, doc("second", "hms.workflow.updated", second.URL,
		"    version: version\n    start: snapshot\n    delete_when: '$.status == \"cancelled\"'\n"))[0].Revision
	in.applied(t, "second", rev)
	require.Eventually(t, func() bool {
		return len(in.log.lines("seeded from the snapshot", "connector=second", "entities=19", "deleted_left_out=1")) == 1
	}, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), "EXTSYNC_REPLAY", "extsync-second-replay")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.Delivered.Stream > 0 && info.NumPending == 0 && info.NumAckPending == 0
	}, 10*time.Second, 10*time.Millisecond, "the seed delivered")
	got := second.received()
	require.Len(t, got, 19)
	for _, r := range got {
		require.NotEqual(t, "/wf-03", r.path, "nothing sent for the deleted entity")
		require.Equal(t, float64(3), r.version)
	}
}
