//go:build fault

package test

import (
	"net/http"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
)

// faultSink is the external system of a fault test: it counts the events
// it accepted (2xx) by Idempotency-Key; misbehave, when it returns true,
// has answered the request with the fault instead.
type faultSink struct {
	mu        sync.Mutex
	ok        map[string]int
	requests  int
	faults    int
	misbehave func(n int, w http.ResponseWriter, r *http.Request) bool
}

func newFaultSink(misbehave func(n int, w http.ResponseWriter, r *http.Request) bool) *faultSink {
	return &faultSink{ok: map[string]int{}, misbehave: misbehave}
}

func (s *faultSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()
	if s.misbehave != nil && s.misbehave(n, w, r) {
		s.mu.Lock()
		s.faults++
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.ok[r.Header.Get("Idempotency-Key")]++
	s.mu.Unlock()
}

// counts returns distinct events accepted, duplicate acceptances and
// requests answered with the fault.
func (s *faultSink) counts() (distinct, dups, faults int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ok {
		dups += n - 1
	}
	return len(s.ok), dups, s.faults
}

// faultServe runs `extsync serve` on its embedded NATS with the connectors
// document doc; it returns the environment (for restarts and the CLI),
// the process and a JetStream client.
func faultServe(t *testing.T, doc string, extraEnv ...string) ([]string, *exec.Cmd, jetstream.JetStream) {
	t.Helper()
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", doc), "EXTSYNC_LOG_LEVEL=warn")
	env = append(env, extraEnv...)
	cmd := killStartTo(t, env, &lockedBuffer{})
	_, js := jsClient(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="))
	return env, cmd, js
}

// jsClient connects to the NATS at url (comma-separated for a cluster)
// until the test ends.
func jsClient(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// deadLettered counts the dead letters by event id.
func deadLettered(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	return eventIDs(t, js, deadletter.Stream)
}

// settleAll waits until every published event was accepted by the sink or
// dead-lettered, then stops serve with SIGTERM and expects a clean exit.
func settleAll(t *testing.T, js jetstream.JetStream, sink *faultSink, serve *exec.Cmd, published int, within time.Duration) (delivered, dups, dead int) {
	t.Helper()
	require.Eventually(t, func() bool {
		d, _, _ := sink.counts()
		return d+len(deadLettered(t, js)) >= published
	}, within, 250*time.Millisecond, "every event delivered or dead-lettered")
	dead = len(deadLettered(t, js)) // before serve and its embedded NATS stop
	stopServe(t, serve, time.Minute)
	delivered, dups, _ = sink.counts()
	return delivered, dups, dead
}
