package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// killSink accepts every request once armed; before that, from request
// killAt on, it signals and holds requests open, so the process is killed
// with deliveries in flight.
type killSink struct {
	mu        sync.Mutex
	delivered map[string]int // Idempotency-Key -> times answered 2xx
	requests  int
	killAt    int
	armed     atomic.Bool
	killNow   chan struct{}
	release   chan struct{} // closed at test end, frees held requests
	once      sync.Once
}

func (s *killSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()
	if !s.armed.Load() && n >= s.killAt {
		s.once.Do(func() { close(s.killNow) })
		// The server notices a dropped connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select { // held until the process dies and the connection drops
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	}
	s.mu.Lock()
	s.delivered[key]++
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *killSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

func (s *killSink) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := 0
	for _, n := range s.delivered {
		d += n - 1
	}
	return d
}

func TestKill9MidStreamLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary twice")
	}
	const events = 2000
	sink := &killSink{delivered: map[string]int{}, killAt: 300, killNow: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(sink.release) })
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 8
    retry: {initial: 100ms, max: 1s}
    http: {url: "%s/workflows/{id}", timeout: 5s}
`, srv.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "EXTSYNC_LOG_LEVEL=warn")
	first := killStart(t, env)
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), events)
	select {
	case <-sink.killNow:
	case <-time.After(60 * time.Second):
		t.Fatal("the sink never saw 300 requests")
	}
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	require.Less(t, sink.distinct(), events, "killed mid-stream, not after the end")
	t.Logf("killed with %d of %d events confirmed", sink.distinct(), events)

	sink.armed.Store(true)
	second := killStart(t, env)
	require.Eventually(t, func() bool { return sink.distinct() == events }, 90*time.Second, 20*time.Millisecond,
		"every event reaches the sink after the restart")
	reportFault(t, faultRow{Fault: "extsync SIGKILLed during delivery", Injection: "SIGKILL with 8 requests held open, restart",
		Published: events, Delivered: sink.distinct(), Duplicated: sink.duplicates(), Note: "redelivered after restart (at-least-once)"})

	stopServe(t, second, 30*time.Second)
}

// stopServe sends SIGTERM and expects serve to drain and exit cleanly
// within the bound.
func stopServe(t *testing.T, serve *exec.Cmd, within time.Duration) {
	t.Helper()
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "clean exit after SIGTERM")
	case <-time.After(within):
		t.Fatalf("no exit within %s of SIGTERM", within)
	}
}

func envValue(env []string, prefix string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, prefix); ok {
			return v
		}
	}
	return ""
}

// killStart starts `extsync serve` with env (from binBaseEnv) and waits
// until it is ready; see serveReady for what it writes into env.
func killStart(t *testing.T, env []string) *exec.Cmd {
	t.Helper()
	return killStartTo(t, env, os.Stderr)
}

// killStartTo is killStart with the process's output sent to w.
func killStartTo(t *testing.T, env []string, w io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	serveReady(t, env, cmd)
	return cmd
}

// readyReport is what serve writes to EXTSYNC_READY_FILE.
type readyReport struct {
	NATSURL  string `json:"nats_url"`
	HTTPAddr string `json:"http_addr"`
	PID      int    `json:"pid"`
}

// serveReady waits until the serve process cmd has written its ready file
// (EXTSYNC_READY_FILE in env) and overwrites env's EXTSYNC_HTTP_ADDR and,
// with the embedded NATS, EXTSYNC_NATS_LISTEN entries in place with the
// addresses it reported. Commands run with env then reach that serve, and
// a restart with env listens where clients of the first one reconnect.
func serveReady(t *testing.T, env []string, cmd *exec.Cmd) readyReport {
	t.Helper()
	path := envValue(env, "EXTSYNC_READY_FILE=")
	require.NotEmpty(t, path, "env has no EXTSYNC_READY_FILE")
	var r readyReport
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(data, &r) == nil && r.PID == cmd.Process.Pid
	}, 2*time.Minute, 20*time.Millisecond, "serve (pid %d) wrote %s", cmd.Process.Pid, path)
	setEnvValue(t, env, "EXTSYNC_HTTP_ADDR=", r.HTTPAddr)
	if envValue(env, "EXTSYNC_NATS_URL=") == "" {
		setEnvValue(t, env, "EXTSYNC_NATS_LISTEN=", strings.TrimPrefix(r.NATSURL, "nats://"))
	}
	return r
}

// setEnvValue replaces the value of every entry with prefix; env keeps
// its length, so every slice of it sees the change.
func setEnvValue(t *testing.T, env []string, prefix, value string) {
	t.Helper()
	found := false
	for i, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			env[i], found = prefix+value, true
		}
	}
	require.True(t, found, "env has no %s entry", prefix)
}

// killPublish publishes events asynchronously and waits for every PubAck.
func killPublish(t *testing.T, url string, n int) {
	t.Helper()
	killPublishRange(t, url, 0, n)
}

// waitForEventStream waits until serve has created HMS_EVENTS. Generous:
// against a three-node cluster serve creates every stream and bucket at
// R3, which is slow while parallel tests load the cores. Each look is
// bounded on its own: a JetStream API request lost while the cluster is
// busy would otherwise wait out the caller's whole context, and the wait
// would fail with the stream there.
func waitForEventStream(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	require.Eventually(t, func() bool {
		lookCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.Stream(lookCtx, "HMS_EVENTS")
		return err == nil
	}, 60*time.Second, 20*time.Millisecond, "serve created the stream")
}

// killPublishRange publishes events from..to-1 and waits for every PubAck.
func killPublishRange(t *testing.T, url string, from, to int) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitForEventStream(t, ctx, js)
	for i := from; i < to; i++ {
		_, err := js.PublishAsync("hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%d"}`, i),
			jetstream.WithMsgID(fmt.Sprintf("evt-%d", i)), jetstream.WithStallWait(30*time.Second))
		require.NoError(t, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publish acks did not arrive")
	}
}
