package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/pkg/internal/service"
	"github.com/hms/extsync/test/syncbuf"
)

// sink is an external system: it records the paths it was sent and
// answers with respond (204 when nil).
type sink struct {
	*httptest.Server
	mu      sync.Mutex
	paths   []string
	respond func(w http.ResponseWriter, r *http.Request)
}

func newSink(t *testing.T, respond func(http.ResponseWriter, *http.Request)) *sink {
	s := &sink{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		if s.respond != nil {
			s.respond(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// got counts the requests for path.
func (s *sink) got(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.paths {
		if p == path {
			n++
		}
	}
	return n
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.paths)
}

// logBuffer is an instance's log, safe to read while it runs.
type logBuffer struct{ syncbuf.Buffer }

// lines returns the log lines holding every one of parts.
func (b *logBuffer) lines(parts ...string) []string {
	var out []string
	for _, l := range strings.Split(b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// checkKinds validates kind blocks by building the connector, as serve.
func checkKinds(c *config.Connector) error {
	conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
	if err != nil {
		return err
	}
	return conn.Close()
}

// instance is one running service, as `extsync serve` runs it.
type instance struct {
	svc *service.Service
	log *logBuffer
	// stop stops it as SIGTERM does, once (the test's end does too).
	stop func()
}

// startInstance runs a service on the NATS at ns with file as its
// connectors file and env as its environment, until the test ends.
func startInstance(t *testing.T, ns *server.Server, file string, env config.LookupEnv) *instance {
	t.Helper()
	return startInstanceWith(t, ns, file, env, nil)
}

// startInstanceWith is startInstance with settings changed by set.
func startInstanceWith(t *testing.T, ns *server.Server, file string, env config.LookupEnv, set func(*config.Settings)) *instance {
	t.Helper()
	_, sources, err := connstore.Split([]byte(file))
	require.NoError(t, err)
	in := &instance{log: &logBuffer{}}
	s := config.Settings{NATSURL: ns.ClientURL(), Stream: "HMS_EVENTS", Replicas: 1,
		LogMaxAge: time.Hour, Drain: 10 * time.Second}
	if set != nil {
		set(&s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.svc, err = service.Start(ctx, s, nil, service.Options{
		Kinds: catalog.Default(), Logger: slog.New(slog.NewTextHandler(in.log, nil)),
		Sources: sources, Env: env, Check: checkKinds,
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- in.svc.Run(ctx) }()
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(in.stop)
	return in
}

// status is this instance's view of connector name, if it runs it.
func (in *instance) status(name string) (pipeline.ConnectorStatus, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, st := range in.svc.Status(ctx) {
		if st.Name == name {
			return st, true
		}
	}
	return pipeline.ConnectorStatus{}, false
}

// applied waits until in has applied revision rev of connector name.
func (in *instance) applied(t *testing.T, name string, rev uint64) {
	t.Helper()
	want := fmt.Sprintf("connector=%s revision=%d", name, rev)
	require.Eventually(t, func() bool { return len(in.log.lines("connector applied from the connector store", want)) > 0 },
		20*time.Second, 10*time.Millisecond, "%s applied", want)
}

func doc(name, subject, url string, extra ...string) string {
	return fmt.Sprintf("connectors:\n  - name: %s\n    kind: http\n    subjects: [%s]\n    http: {url: \"%s/{id}\"}\n%s",
		name, subject, url, strings.Join(extra, ""))
}

// apply stores document d in the connector store, as `connectors apply` does.
func apply(t *testing.T, js jetstream.JetStream, d string) []connstore.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := &config.LenientEnv{}
	names, docs, err := connstore.Prepare("test.yaml", []byte(d), env.Lookup, checkKinds)
	require.NoError(t, err)
	reg, err := connstore.Open(ctx, js, 1)
	require.NoError(t, err)
	changes, err := reg.Apply(ctx, js, names, docs, "test")
	require.NoError(t, err)
	return changes
}

func publish(t *testing.T, js jetstream.JetStream, subject, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, subject, fmt.Appendf(nil, `{"id":%q}`, id))
	require.NoError(t, err)
}

func noEnv(string) (string, bool) { return "", false }
