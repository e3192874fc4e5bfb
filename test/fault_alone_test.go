//go:build fault

package test

import (
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

// startPlainServe starts `extsync serve` (built without -race) on the
// NATS at natsAddr with the connectors file conf, and waits until it is
// ready; its log is shown if the test fails.
func startPlainServe(t *testing.T, natsAddr, conf string) (*exec.Cmd, []string) {
	t.Helper()
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL=nats://"+natsAddr, conf, "EXTSYNC_LOG_LEVEL=warn")
	cmd := exec.Command(plainBinary(t), "serve")
	cmd.Env = env
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("instance pid %d's log:\n%s", cmd.Process.Pid, log.String())
		}
	})
	serveReady(t, env, cmd)
	return cmd, env
}

// startVersionRig starts a NATS server on its own port, for serve
// processes to share, and a sink recording the versions it accepts.
func startVersionRig(t *testing.T) (natsAddr string, sink *versionSink, srv *httptest.Server) {
	t.Helper()
	natsAddr = "127.0.0.1:" + strconv.Itoa(binFreePort(t))
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: natsAddr, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	sink = &versionSink{accepted: map[string][]int{}}
	srv = httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return natsAddr, sink, srv
}

// instanceOrdering is how the serve whose admin API is at addr keeps its
// one connector's versioned events in order ("alone", "claims",
// "waiting"), "" while it cannot be read.
func instanceOrdering(addr string) string {
	st, _ := instanceConnector(addr)
	return st.Ordering
}

// TestFaultKilledWhileSendingAlone SIGKILLs the only instance while it
// sends alone (claiming nothing) with deliveries in flight, and starts a
// second. The second must not send until nothing the first started can
// still be under way (its membership lapsed by the claim hold); then it
// sends alone. No entity receives a lower version after a higher one,
// nothing is lost.
func TestFaultKilledWhileSendingAlone(t *testing.T) {
	const entities, versions = 1000, 10
	const events = entities * versions
	const hold = 12 * time.Second // the connector's timeout + 10 s
	natsAddr, sink, srv := startVersionRig(t)
	conf := "EXTSYNC_CONNECTORS=" + binWriteFile(t, "c.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 16
    version: version
    retry: {max_attempts: 20, initial: 100ms, max: 1s}
    http: {url: "%s/workflows/{id}", timeout: 2s}
`, srv.URL))

	first, firstEnv := startPlainServe(t, natsAddr, conf)
	require.Eventually(t, func() bool { return instanceOrdering(envValue(firstEnv, "EXTSYNC_HTTP_ADDR=")) == "alone" },
		10*time.Second, 20*time.Millisecond, "the only instance sends alone")
	publishVersions(t, "nats://"+natsAddr, entities, versions)
	require.Eventually(t, func() bool { return sink.count() >= events/4 }, 2*time.Minute, 5*time.Millisecond)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	killed, atKill := time.Now(), sink.count()
	_ = first.Wait()

	_, secondEnv := startPlainServe(t, natsAddr, conf)
	addr := envValue(secondEnv, "EXTSYNC_HTTP_ADDR=")
	require.Equal(t, "waiting", instanceOrdering(addr), "the first may still be sending")
	whileWaiting := atKill
	require.Eventually(t, func() bool {
		n := sink.count() // before the state: if it still waits, it waited then
		if instanceOrdering(addr) == "alone" {
			return true
		}
		whileWaiting = n
		return false
	}, hold+30*time.Second, 20*time.Millisecond)
	paused := time.Since(killed)
	require.Greater(t, paused, hold, "taken over only once nothing the first sent can be under way")
	require.LessOrEqual(t, whileWaiting, atKill+16, "nothing sent while waiting but what the first had in flight")
	require.Eventually(t, func() bool { return sink.reached(versions) == entities }, 2*time.Minute, 50*time.Millisecond,
		"every entity reaches its newest version")

	v := sink.verdict(t, entities, versions)
	require.Zero(t, v.regressions, "no entity received a lower version after a higher one")
	require.Zero(t, v.lost)
	reportFault(t, faultRow{Fault: "the instance sending alone SIGKILLed",
		Injection: fmt.Sprintf("%d events (%d entities × %d versions), entity ordering, one instance; SIGKILL at a quarter delivered, a second started", events, entities, versions),
		Published: events, Delivered: v.distinct, Superseded: events - v.distinct - v.lost, Duplicated: v.dups, Lost: v.lost,
		Note: fmt.Sprintf("killed at %d delivered; the second waited %.1f s (the claim hold is %s), then sent alone; no version received after a newer one",
			atKill, paused.Seconds(), hold)})
}
