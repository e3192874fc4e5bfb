package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

// TestNATSRestartMidStreamLosesNothing restarts the (external) NATS
// server on its store while serve delivers: serve reconnects and every
// event published before and after arrives.
func TestNATSRestartMidStreamLosesNothing(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // a court API's think time, so the stream is still flowing at the restart
		case <-time.After(2 * time.Millisecond):
		case <-r.Context().Done():
		}
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	store, listen := t.TempDir(), "127.0.0.1:"+strconv.Itoa(binFreePort(t))
	start := func() *server.Server {
		s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: listen, StoreDir: store})
		require.NoError(t, err)
		return s
	}
	ns := start()
	t.Cleanup(func() { ns.Shutdown() })
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL=nats://"+listen, "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml",
		connectorDoc("court", "hms.workflow.updated", sink.URL)))
	serve := exec.Command(binary(t), "serve")
	serve.Env = env
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill() })

	const n = 1000
	killPublishRange(t, "nats://"+listen, 0, n)
	require.Eventually(t, func() bool { return count() >= 100 }, 20*time.Second, time.Millisecond, "delivering")
	atRestart := count()
	ns.Shutdown()
	ns.WaitForShutdown()
	ns = start()
	killPublishRange(t, "nats://"+listen, n, 2*n)
	require.Eventually(t, func() bool { return count() == 2*n }, 60*time.Second, 20*time.Millisecond,
		"every event delivered across the restart")
	mu.Lock()
	dups := 0
	for _, c := range got {
		dups += c - 1
	}
	mu.Unlock()
	require.Less(t, atRestart, n, "the restart came mid-stream")
	reportFault(t, faultRow{Fault: "external NATS restarted mid-stream", Injection: "server shut down and restarted on its store",
		Published: 2 * n, Delivered: count(), Duplicated: dups, Note: fmt.Sprintf("restart after %d delivered", atRestart)})
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
}
