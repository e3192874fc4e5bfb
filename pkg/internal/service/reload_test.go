package service_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// Two instances share one connector store: a new connector starts on
// both, an update drains the old runners while events are in flight and
// moves later events to the new URL, and rm stops it everywhere.
func TestTwoInstancesFollowTheRegistry(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	release := make(chan struct{})
	old := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		select { // deliveries hang in the old system until both instances are draining
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	moved, clinic := newSink(t, nil), newSink(t, nil)
	court := func(url string) string {
		return doc("court", "hms.workflow.updated", url, "    ordering: none\n    concurrency: 4\n")
	}
	a := startInstance(t, ns, court(old.URL), noEnv)
	b := startInstance(t, ns, court(old.URL), noEnv)

	// A new connector starts on both instances, without a restart.
	rev := apply(t, js, doc("clinic", "hms.scheduling.updated", clinic.URL))[0].Revision
	a.applied(t, "clinic", rev)
	b.applied(t, "clinic", rev)
	publish(t, js, "hms.scheduling.updated", "s-1")
	require.Eventually(t, func() bool { return clinic.got("/s-1") == 1 }, 10*time.Second, 5*time.Millisecond)

	// An update while events are in flight.
	const n = 300
	for i := range n {
		publish(t, js, "hms.workflow.updated", fmt.Sprintf("wf-%d", i))
	}
	require.Eventually(t, func() bool { return old.count() == 8 }, 10*time.Second, time.Millisecond,
		"four deliveries in flight on each instance")
	rev = apply(t, js, court(moved.URL))[0].Revision
	for _, in := range []*instance{a, b} {
		require.Eventually(t, func() bool {
			return len(in.log.lines("draining the old runner", "connector=court")) == 1
		}, 10*time.Second, time.Millisecond)
	}
	readyCtx, readyCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer readyCancel()
	require.NoError(t, a.svc.Ready(readyCtx), "an update in progress does not make the instance unready")
	close(release)
	a.applied(t, "court", rev)
	b.applied(t, "court", rev)
	// In flight were 8; a dispatcher that was handing one over as the
	// drain began may still give it to a worker freed by the release.
	oldFinal := old.count()
	require.LessOrEqual(t, oldFinal, 8+2*2, "the old runners finished what was in flight and took no more")
	for i := range 10 {
		publish(t, js, "hms.workflow.updated", fmt.Sprintf("after-%d", i))
	}
	require.Eventually(t, func() bool {
		for i := range 10 {
			if moved.got(fmt.Sprintf("/after-%d", i)) == 0 {
				return false
			}
		}
		for i := range n {
			if p := fmt.Sprintf("/wf-%d", i); old.got(p)+moved.got(p) == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 10*time.Millisecond, "every event reached one system or the other")
	require.Equal(t, oldFinal, old.count(), "the old system gets nothing once both instances swapped")
	dups := 0
	for i := range n {
		p := fmt.Sprintf("/wf-%d", i)
		dups += old.got(p) + moved.got(p) - 1
	}
	require.Zero(t, dups, "draining settles in-flight deliveries before the new runner starts: no repeats")

	// rm stops it on both; its consumer keeps what arrives meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := connstore.Open(ctx, js, 1)
	require.NoError(t, err)
	require.NoError(t, reg.Delete(ctx, js, "clinic", "test"))
	for _, in := range []*instance{a, b} {
		require.Eventually(t, func() bool {
			_, running := in.status("clinic")
			return !running && len(in.log.lines("connector removed from the connector store: stopped", "connector=clinic")) == 1
		}, 10*time.Second, 10*time.Millisecond)
	}
	publish(t, js, "hms.scheduling.updated", "s-2")
	cons, err := js.Consumer(ctx, "HMS_EVENTS", "extsync-clinic")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 1
	}, 10*time.Second, 10*time.Millisecond, "s-2 waits in the removed connector's consumer")
	require.Zero(t, clinic.got("/s-2"))
}

// A connector store entry this instance cannot load is logged with its
// error (entry, line, field) and the connector keeps running as it was.
func TestBadEntryKeepsTheOldRunner(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	old, moved := newSink(t, nil), newSink(t, nil)
	in := startInstance(t, ns, doc("court", "hms.workflow.updated", old.URL), noEnv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Valid where it was applied, but this instance lacks the variable.
	apply(t, js, "connectors:\n  - name: court\n    kind: http\n    subjects: [hms.workflow.updated]\n"+
		"    http:\n      url: \""+moved.URL+"/{id}\"\n      headers: {Authorization: \"Bearer ${COURT_TOKEN}\"}\n")
	require.Eventually(t, func() bool {
		return len(in.log.lines("connector store change not applied; the connector keeps its previous state",
			"connector=court", `err="extsync_connectors/court:7:32: connectors[0].http.headers.Authorization: ${COURT_TOKEN} is not set`)) == 1
	}, 10*time.Second, 10*time.Millisecond, in.log.String())

	// Written past `connectors apply`'s validation, with the nats CLI say.
	kv, err := js.KeyValue(ctx, connstore.Bucket)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "court", []byte(doc("court", "hms.workflow.updated", moved.URL, "    retry: {initial: soon}\n")))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(in.log.lines("connector store change not applied", "connector=court",
			"extsync_connectors/court:6:", "connectors[0].retry.initial")) == 1
	}, 10*time.Second, 10*time.Millisecond, in.log.String())

	publish(t, js, "hms.workflow.updated", "wf-1")
	require.Eventually(t, func() bool { return old.got("/wf-1") == 1 }, 10*time.Second, 5*time.Millisecond,
		"the old runner keeps delivering")
	st, ok := in.status("court")
	require.True(t, ok && st.Running)
	require.Equal(t, uint64(1), st.Revision, "still the revision it started with")
	require.Contains(t, st.RegistryError, "revision 3 not applied here: extsync_connectors/court:6:")

	// A new connector this instance cannot load is listed, not running.
	apply(t, js, "connectors:\n  - name: clinic\n    kind: http\n    subjects: [hms.scheduling.updated]\n"+
		"    http: {url: \"http://clinic.example/{id}?key=${CLINIC_KEY}\"}\n")
	require.Eventually(t, func() bool {
		st, ok := in.status("clinic")
		return ok && !st.Running && strings.Contains(st.RegistryError, "${CLINIC_KEY} is not set")
	}, 10*time.Second, 10*time.Millisecond)

	// Fixed: the change takes effect.
	rev := apply(t, js, doc("court", "hms.workflow.updated", moved.URL))[0].Revision
	in.applied(t, "court", rev)
	publish(t, js, "hms.workflow.updated", "wf-2")
	require.Eventually(t, func() bool { return moved.got("/wf-2") == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, moved.got("/wf-1"))
	st, _ = in.status("court")
	require.Equal(t, rev, st.Revision)
	require.Empty(t, st.RegistryError, "taken: nothing refused any more")
}
