//go:build fault

package test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

// TestFaultRollingRestart restarts each of two instances in turn with
// SIGTERM while events flow: each drains (in-flight deliveries finish and
// are acked, buffered ones go back to the stream) and exits cleanly, and
// its replacement picks up. Nothing is lost and, the drains being clean,
// nothing is delivered twice.
func TestFaultRollingRestart(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-time.After(2 * time.Millisecond) // the system's own work, so deliveries are in flight at each stop
		mu.Lock()
		got[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)
	count := func() (distinct, dups int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range got {
			dups += n - 1
		}
		return len(got), dups
	}
	natsAddr := "127.0.0.1:" + strconv.Itoa(binFreePort(t))
	ns, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: natsAddr, StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	conf := "EXTSYNC_CONNECTORS=" + binWriteFile(t, "c.yaml", sinkDoc(sink.URL, ""))
	start := func() *exec.Cmd {
		cmd := exec.Command(plainBinary(t), "serve")
		cmd.Env = append(binBaseEnv(t), "EXTSYNC_NATS_URL=nats://"+natsAddr, conf, "EXTSYNC_LOG_LEVEL=warn")
		log := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			if t.Failed() {
				t.Logf("instance %d's log:\n%s", cmd.Process.Pid, log.String())
			}
		})
		return cmd
	}
	instances := []*exec.Cmd{start(), start()}
	const n = 6000
	killPublishRange(t, "nats://"+natsAddr, 0, n)
	var at []int
	for i, threshold := range []int{1000, 3000} {
		require.Eventually(t, func() bool { d, _ := count(); return d >= threshold }, time.Minute, 5*time.Millisecond)
		d, _ := count()
		at = append(at, d)
		stopServe(t, instances[i], time.Minute) // drains and exits cleanly
		instances[i] = start()
	}
	require.Eventually(t, func() bool { d, _ := count(); return d == n }, 2*time.Minute, 20*time.Millisecond)
	for _, cmd := range instances {
		stopServe(t, cmd, time.Minute)
	}
	delivered, dups := count()
	reportFault(t, faultRow{Fault: "rolling restart of 2 instances",
		Injection: "SIGTERM each instance in turn mid-stream, start its replacement",
		Published: n, Delivered: delivered, Duplicated: dups, Lost: n - delivered,
		Note: "stopped at " + strconv.Itoa(at[0]) + " and " + strconv.Itoa(at[1]) + " delivered; each exit clean (status 0)"})
	require.Zero(t, dups, "a clean drain acks what it delivered and hands back the rest")
}
