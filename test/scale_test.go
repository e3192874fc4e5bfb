//go:build perf

package test

import (
	"fmt"
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

// latencySink is a system that takes 20 ms per request and records when
// each event first arrived.
type latencySink struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (s *latencySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-time.After(20 * time.Millisecond) // the system's own work
	s.mu.Lock()
	if _, ok := s.first[r.Header.Get("Idempotency-Key")]; !ok {
		s.first[r.Header.Get("Idempotency-Key")] = time.Now()
	}
	s.mu.Unlock()
}

// rate is events per second between the first and last arrival.
func (s *latencySink) rate() (int, float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lo, hi time.Time
	for _, at := range s.first {
		if lo.IsZero() || at.Before(lo) {
			lo = at
		}
		if at.After(hi) {
			hi = at
		}
	}
	return len(s.first), float64(len(s.first)) / hi.Sub(lo).Seconds()
}

// TestScaleOut measures how throughput grows with instances sharing one
// connector's consumer, against a system that answers in 20 ms, with
// concurrency 4 per instance (so one instance tops out near 200/s).
// NATS runs in the test process. Run it with
//
//	go test -tags perf -run ScaleOut -v ./test
func TestScaleOut(t *testing.T) {
	const events = 3000
	rates := map[int]float64{}
	for _, instances := range []int{1, 2, 3} {
		sink := &latencySink{first: map[string]time.Time{}}
		srv := httptest.NewServer(sink)
		// NATS in this process, not in a serve: every serve follows the
		// connector store and would run the connector too.
		natsAddr := "127.0.0.1:" + strconv.Itoa(binFreePort(t))
		ns, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: natsAddr, StoreDir: t.TempDir()})
		require.NoError(t, err)
		doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 4
    ordering: none
    http: {url: "%s/workflows/{id}"}
`, srv.URL)
		var procs []*exec.Cmd
		for range instances {
			cmd := exec.Command(plainBinary(t), "serve")
			cmd.Env = append(binBaseEnv(t), "EXTSYNC_NATS_URL=nats://"+natsAddr, "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", doc))
			require.NoError(t, cmd.Start())
			procs = append(procs, cmd)
		}
		killPublish(t, "nats://"+natsAddr, events) // once serve has made the stream
		require.Eventually(t, func() bool { n, _ := sink.rate(); return n == events }, 2*time.Minute, 50*time.Millisecond)
		_, rates[instances] = sink.rate()
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
		ns.Shutdown()
		srv.Close()
		t.Logf("%d instance(s): %.0f events/s", instances, rates[instances])
	}
	t.Logf("scale-out: 2 instances %.2fx, 3 instances %.2fx of one", rates[2]/rates[1], rates[3]/rates[1])
	require.Greater(t, rates[3]/rates[1], 2.0, "more instances move more events while the system has room")
}
