//go:build perf

package test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/nats-io/nats.go"
)

// TestRSSWithABacklog measures the resident memory of `extsync serve`
// with 100,000 and 1,000,000 events waiting for a system that is down,
// NATS running in its own process (another serve's embedded server), so
// the figure is extsync's alone. Run it with
//
//	go test -tags perf -run RSS -v ./test
func TestRSSWithABacklog(t *testing.T) {
	for _, tc := range []struct {
		events int
		maxKB  int
	}{{100_000, 40 << 10}, {1_000_000, 64 << 10}} {
		t.Run(strconv.Itoa(tc.events), func(t *testing.T) {
			kb := backlogRSS(t, tc.events)
			t.Logf("%d events waiting: extsync serve peak RSS %d KB (%.1f MB)", tc.events, kb, float64(kb)/1024)
			require.LessOrEqual(t, kb, tc.maxKB)
		})
	}
}

func backlogRSS(t *testing.T, n int) int {
	natsEnv := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+binWriteFile(t, "idle.yaml",
		connectorDoc("idle", "hms.idle.updated", "http://127.0.0.1:9")))
	killStart(t, natsEnv) // its embedded server is the NATS of the measured process
	url := "nats://" + envValue(natsEnv, "EXTSYNC_NATS_LISTEN=")
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL="+url, "EXTSYNC_LOG_LEVEL=error",
		"EXTSYNC_CONNECTORS="+binWriteFile(t, "down.yaml", connectorDoc("down", "hms.workflow.updated", "http://127.0.0.1:9")))
	cmd := exec.Command(plainBinary(t), "serve") // the race detector would inflate the figure
	cmd.Env = env
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	serveReady(t, env, cmd)
	admin := "http://" + envValue(env, "EXTSYNC_HTTP_ADDR=")
	require.Eventually(t, func() bool { code, _ := httpGet(admin + "/readyz"); return code == 200 },
		30*time.Second, 50*time.Millisecond)

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	require.NoError(t, err)
	body := []byte(`{"id":"wf-1","pad":"` + strings.Repeat("x", 480) + `"}`)
	for range n {
		_, err := js.PublishAsync("hms.workflow.updated", body, jetstream.WithStallWait(time.Minute))
		require.NoError(t, err)
	}
	<-js.PublishAsyncComplete()
	// Let it work on the backlog (every attempt fails, events wait with
	// backoff) for a while before reading the peak.
	deadline := time.Now().Add(10 * time.Second)
	require.Eventually(t, func() bool { return time.Now().After(deadline) }, 20*time.Second, time.Second)
	return vmHWM(t, cmd.Process.Pid)
}

func vmHWM(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// httpGet is a GET that reports only the status (0 when unreachable).
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
