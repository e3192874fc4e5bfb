//go:build fault

package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// versionSink records, per entity, the versions it accepted in order;
// with refuseOneIn n it fails one request in n at random (500).
type versionSink struct {
	refuseOneIn int
	mu          sync.Mutex
	accepted    map[string][]int
	total       int
	refused     int
}

func (s *versionSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuseOneIn > 0 && rand.IntN(s.refuseOneIn) == 0 {
		s.refused++
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.accepted[ev.ID] = append(s.accepted[ev.ID], ev.Version)
	s.total++
}

func (s *versionSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// verdict is what the sink holds of entities e-0.. × versions 1..:
// distinct versions accepted, repeats, versions lost (below an entity's
// newest accepted, an older one is superseded; above it, lost) and
// regressions (a version accepted after a newer one), the first few of
// which fail t.
type verdict struct{ distinct, dups, lost, regressions int }

func (s *versionSink) verdict(t *testing.T, entities, versions int) verdict {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var v verdict
	for e := range entities {
		id := fmt.Sprintf("e-%d", e)
		vs := s.accepted[id]
		seen, high := map[int]bool{}, 0
		for _, ver := range vs {
			if ver < high {
				v.regressions++
				if v.regressions <= 10 {
					t.Errorf("%s: version %d received after %d (all: %v)", id, ver, high, vs)
				}
			}
			high = max(high, ver)
			if seen[ver] {
				v.dups++
			}
			seen[ver] = true
		}
		v.distinct += len(seen)
		v.lost += versions - high
	}
	return v
}

// newest counts entities whose last accepted version is last.
func (s *versionSink) newest(last int) int {
	return s.entities(func(vs []int) bool { return vs[len(vs)-1] == last })
}

// reached counts entities that were sent version last at some point.
func (s *versionSink) reached(last int) int {
	return s.entities(func(vs []int) bool { return slices.Contains(vs, last) })
}

func (s *versionSink) entities(match func(vs []int) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, vs := range s.accepted {
		if match(vs) {
			n++
		}
	}
	return n
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return "?"
}

// TestFaultLoadThreeInstancesOneKilled: 3 instances share the connector's
// consumer; the sink fails 10% at random; one instance is SIGKILLed a
// third of the way. Every entity ends at its newest version, each
// entity's accepted versions only go up, nothing is lost.
func TestFaultLoadThreeInstancesOneKilled(t *testing.T) {
	events := 200_000
	if v, err := strconv.Atoi(os.Getenv("EXTSYNC_FAULT_LOAD")); err == nil && v > 0 {
		events = v
	}
	const versions = 10
	entities := events / versions
	sink := &versionSink{refuseOneIn: 10, accepted: map[string][]int{}}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 64
    version: version
    retry: {max_attempts: 20, initial: 100ms, max: 1s, multiplier: 2, jitter: 0.2}
    http: {url: "%s/workflows/{id}", timeout: 5s}
`, srv.URL)
	base := binBaseEnv(t)
	conf := "EXTSYNC_CONNECTORS=" + binWriteFile(t, "c.yaml", doc)
	start := func(env []string) *exec.Cmd {
		cmd := exec.Command(plainBinary(t), "serve")
		cmd.Env = append(env, conf, "EXTSYNC_LOG_LEVEL=warn")
		log := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd
	}
	// The first instance runs the embedded NATS the others join.
	instances := []*exec.Cmd{start(base)}
	serveReady(t, base, instances[0])
	natsAddr := envValue(base, "EXTSYNC_NATS_LISTEN=")
	for range 2 {
		instances = append(instances, start(append(binBaseEnv(t), "EXTSYNC_NATS_URL=nats://"+natsAddr)))
	}

	began := time.Now()
	publishVersions(t, "nats://"+natsAddr, entities, versions)
	require.Eventually(t, func() bool { return sink.count() >= events/3 },
		5*time.Minute, 50*time.Millisecond)
	killedRSS := peakRSS(instances[2].Process.Pid)
	require.NoError(t, instances[2].Process.Signal(syscall.SIGKILL))
	_ = instances[2].Wait()
	require.Eventually(t, func() bool { return sink.newest(versions) == entities }, 8*time.Minute, 250*time.Millisecond,
		"every entity reaches its newest version")
	took := time.Since(began)
	rss := []string{peakRSS(instances[0].Process.Pid), peakRSS(instances[1].Process.Pid), killedRSS}
	for _, cmd := range instances[:2] {
		stopServe(t, cmd, time.Minute)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	distinct, dups := 0, 0
	for id, vs := range sink.accepted {
		seen := map[int]bool{}
		for i, v := range vs {
			if i > 0 && v < vs[i-1] {
				t.Errorf("%s: version %d accepted after %d", id, v, vs[i-1])
			}
			if seen[v] {
				dups++
			}
			seen[v] = true
		}
		distinct += len(seen)
	}
	reportFault(t, faultRow{Fault: "load: 3 instances, one SIGKILLed",
		Injection: fmt.Sprintf("%d events (%d entities × %d versions), sink fails 10%% at random, instance 3 killed at a third", events, entities, versions),
		Published: events, Delivered: distinct, Superseded: events - distinct, Duplicated: dups,
		Note: fmt.Sprintf("%.0f events/s end to end; %d refused; versions per entity only went up; peak RSS %s", float64(events)/took.Seconds(),
			sink.refused, strings.Join(rss, " / "))})
}

// publishVersions publishes versions 1..v of every entity, interleaved.
func publishVersions(t *testing.T, url string, entities, v int) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	waitForEventStream(t, ctx, js)
	for ver := 1; ver <= v; ver++ {
		for e := range entities {
			_, err := js.PublishAsync("hms.workflow.updated", fmt.Appendf(nil, `{"id":"e-%d","version":%d}`, e, ver),
				jetstream.WithMsgID(fmt.Sprintf("evt-%d-%d", e, ver)), jetstream.WithStallWait(30*time.Second))
			require.NoError(t, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publish acks did not arrive")
	}
}
