//go:build perf

package test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestRSSDrainingABacklog measures the resident memory of `extsync
// serve` draining 100,000 waiting events into a system that answers at
// once, NATS in its own process: unversioned events, and 10,000
// entities × 10 versions with the default ordering (entity). Run it with
//
//	go test -tags perf -run RSSDraining -v ./test
//
// GOGC and GOMEMLIMIT, when set, are passed to serve.
func TestRSSDrainingABacklog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		versions int
	}{{"unversioned", 0}, {"versioned", 10}} {
		t.Run(tc.name, func(t *testing.T) {
			kb, took := drainRSS(t, 100_000, tc.versions)
			t.Logf("100,000 events (%s) drained in %s: extsync serve peak RSS %d KB (%.1f MB)",
				tc.name, took.Round(time.Millisecond), kb, float64(kb)/1024)
		})
	}
}

func drainRSS(t *testing.T, n, versions int) (int, time.Duration) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(sink.Close)
	natsEnv := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+binWriteFile(t, "idle.yaml",
		connectorDoc("idle", "hms.idle.updated", "http://127.0.0.1:9")))
	provider := exec.Command(plainBinary(t), "serve") // its embedded server is the NATS; no race detector slowing it
	provider.Env = natsEnv
	require.NoError(t, provider.Start())
	t.Cleanup(func() { _ = provider.Process.Kill(); _ = provider.Wait() })
	serveReady(t, natsEnv, provider)
	url := "nats://" + envValue(natsEnv, "EXTSYNC_NATS_LISTEN=")
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	require.NoError(t, err)
	pad := strings.Repeat("x", 440)
	entities := n
	if versions > 0 {
		entities = n / versions
	}
	for i := range n {
		body := fmt.Sprintf(`{"id":"e-%d","pad":%q}`, i, pad) // each its own entity, no version
		if versions > 0 {
			body = fmt.Sprintf(`{"id":"e-%d","version":%d,"pad":%q}`, i%entities, i/entities+1, pad)
		}
		_, err := js.PublishAsync("hms.workflow.updated", []byte(body), jetstream.WithStallWait(time.Minute))
		require.NoError(t, err)
	}
	<-js.PublishAsyncComplete()

	doc := "connectors:\n  - name: drain\n    kind: http\n    subjects: [hms.workflow.updated]\n    concurrency: 64\n" +
		"    version: version\n    http: {url: \"" + sink.URL + "/{id}\"}\n"
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL="+url, "EXTSYNC_LOG_LEVEL=error",
		"EXTSYNC_CONNECTORS="+binWriteFile(t, "drain.yaml", doc))
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} { // the collector's trade of memory for CPU, measured as set
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	cmd := exec.Command(plainBinary(t), "serve") // the race detector would inflate the figure
	cmd.Env = env
	start := time.Now()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		c, err := js.Consumer(context.Background(), "HMS_EVENTS", "extsync-drain")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= uint64(n)
	}, 5*time.Minute, 100*time.Millisecond, "the backlog drained")
	return vmHWM(t, cmd.Process.Pid), time.Since(start)
}
