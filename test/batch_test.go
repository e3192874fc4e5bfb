package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBatchKilledMidSendIsDeliveredInFullAfterRestart SIGKILLs serve while
// the external system holds a batch, restarts it, and asks for a run: the
// whole batch arrives.
func TestBatchKilledMidSendIsDeliveredInFullAfterRestart(t *testing.T) {
	const n = 200
	release := make(chan struct{})
	var mu sync.Mutex
	var completed [][]map[string]any
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if first { // the system is slow on the first batch; extsync dies meanwhile
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		var items []map[string]any
		_ = json.Unmarshal(raw, &items)
		mu.Lock()
		completed = append(completed, items)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	conf := binWriteFile(t, "c.yaml", fmt.Sprintf(`connectors:
  - name: nightly
    kind: http
    subjects: [hms.workflow.updated]
    mode: batch
    batch: {every: 24h, at: "02:00", timezone: Europe/Dublin}
    http: {url: "%s/one/{id}", bulk: {url: "%s/bulk", format: json}}
`, srv.URL, srv.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf)
	cli := func(args ...string) binResult { return binRun(t, env[2:], args...) }
	serve := killStart(t, env)
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)

	require.Eventually(t, func() bool {
		return regexpMatch(`batch: next run \S+, 200 waiting`, cli("connectors", "ls").stdout)
	}, 20*time.Second, 100*time.Millisecond, "connectors ls shows the events waiting")
	res := cli("batch", "run", "nightly")
	require.Equal(t, 0, res.code, res.stderr)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return requests == 1 }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, serve.Process.Signal(syscall.SIGKILL))
	_ = serve.Wait()
	serve = killStart(t, env)
	// The batch's events come back to the new instance as their ack wait
	// ends; a run before all are back sends what has come.
	require.Eventually(t, func() bool {
		return regexpMatch(`batch: next run \S+, 200 waiting`, cli("connectors", "ls").stdout)
	}, 60*time.Second, 200*time.Millisecond, "the new instance holds the whole batch")
	require.Eventually(t, func() bool {
		if cli("batch", "run", "nightly").code != 0 {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		return len(completed) > 0
	}, 60*time.Second, 500*time.Millisecond, "after the restart the batch goes out again")
	mu.Lock()
	ids, items := map[string]bool{}, 0
	for _, b := range completed {
		for _, it := range b {
			ids[fmt.Sprint(it["id"])] = true
			items++
		}
	}
	mu.Unlock()
	require.Len(t, ids, n, "the whole batch arrived")
	reportFault(t, faultRow{Fault: "extsync SIGKILLed during a batch", Injection: "SIGKILL while the system holds the bulk request",
		Published: n, Delivered: len(ids), Duplicated: items - len(ids), Note: "batch resent whole after the ack wait"})

	res = cli("batch", "run", "nope")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no running instance has a batch connector "nope"`)
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
