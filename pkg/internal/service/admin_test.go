package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// serveAdmin runs the admin API over in's status, as serve wires it.
func serveAdmin(t *testing.T, in *instance) string {
	t.Helper()
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: "tok", Ready: in.svc.Ready})
	require.NoError(t, err)
	s.MountOps(admin.Ops{JS: in.svc.JetStream(), Connectors: func(ctx context.Context) []admin.ConnectorView {
		var out []admin.ConnectorView
		for _, st := range in.svc.Status(ctx) {
			out = append(out, admin.ConnectorView{Name: st.Name, Status: st})
		}
		return out
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return "http://" + s.Addr()
}

func getStatus(t *testing.T, url string) (int, pipeline.ConnectorStatus) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var st pipeline.ConnectorStatus
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, &st), string(body))
	}
	return resp.StatusCode, st
}

// /api/v1/connectors/{name} shows what an operator needs about a stuck
// system: lag, deliveries in flight, the breaker, the last error.
func TestConnectorsEndpointShowsLagInFlightBreakerAndLastError(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	release := make(chan struct{})
	court := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		select { // hangs, then fails: a court system going down
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	in := startInstance(t, ns, doc("court", "hms.workflow.updated", court.URL,
		"    ordering: none\n    concurrency: 2\n",
		"    retry: {max_attempts: 3, initial: 1s}\n",
		"    circuit_breaker: {failure_ratio: 0.5, min_requests: 2, delay: 1m}\n"), noEnv)
	base := serveAdmin(t, in)
	url := base + "/api/v1/connectors/court"

	for _, id := range []string{"wf-1", "wf-2", "wf-3"} {
		publish(t, js, "hms.workflow.updated", id)
	}
	var st pipeline.ConnectorStatus
	require.Eventually(t, func() bool {
		_, st = getStatus(t, url)
		return st.InFlight == 2 && st.Lag == 3
	}, 10*time.Second, 10*time.Millisecond, "two deliveries hang, three events wait in all: %+v", st)
	require.True(t, st.Running)
	require.Equal(t, "http", st.Kind)
	require.Equal(t, []string{"hms.workflow.updated"}, st.Subjects)
	require.Equal(t, "closed", st.Breaker)
	require.Empty(t, st.LastError)

	close(release)
	require.Eventually(t, func() bool {
		_, st = getStatus(t, url)
		return st.Breaker == "open" && st.Failed >= 2
	}, 10*time.Second, 10*time.Millisecond, "%+v", st)
	require.Contains(t, st.LastError, "500")
	require.False(t, st.LastErrorAt.IsZero())
	require.Equal(t, uint64(3), st.Lag, "nothing delivered: all three still owed")

	code, _ := getStatus(t, base+"/api/v1/connectors/clinic")
	require.Equal(t, http.StatusNotFound, code)
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a failing system does not make extsync unready")
}

// An operator sees how each instance keeps versioned events in order:
// alone while it is the only one, with claims once another runs, alone
// again once that one has stopped.
func TestConnectorsEndpointShowsHowOrderingIsKept(t *testing.T) {
	ns := brokertest.RunServer(t)
	court := newSink(t, nil)
	file := doc("court", "hms.workflow.updated", court.URL)
	a := startInstance(t, ns, file, noEnv)
	url := serveAdmin(t, a) + "/api/v1/connectors/court"
	ordering := func() string { _, st := getStatus(t, url); return st.Ordering }
	require.Eventually(t, func() bool { return ordering() == "alone" }, 10*time.Second, 10*time.Millisecond)

	b := startInstance(t, ns, file, noEnv)
	require.Eventually(t, func() bool {
		st, _ := b.status("court")
		return ordering() == "claims" && st.Ordering == "claims"
	}, 10*time.Second, 10*time.Millisecond, "both claim once each sees the other")

	b.stop()
	require.Eventually(t, func() bool { return ordering() == "alone" }, 10*time.Second, 10*time.Millisecond)
}
