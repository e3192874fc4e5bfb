package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/pkg/synclog"
)

// received is one request a sink saw.
type received struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
	Raw    string // the body's bytes
}

// sink is a real HTTP server that records requests and answers with
// respond(n), n counting the requests to the same path from 1.
type sink struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	perPath map[string]int
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newSink(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *sink {
	s := &sink{perPath: map[string]int{}, respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := received{At: time.Now(), Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Raw: string(raw)}
		_ = json.Unmarshal(raw, &rec.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		s.perPath[rec.Path]++
		n := s.perPath[rec.Path]
		s.mu.Unlock()
		if s.respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		s.respond(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// status answers every request with code.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// env is one test's broker and pipeline.
type env struct {
	t    *testing.T
	nc   *nats.Conn
	js   jetstream.JetStream
	stop context.CancelFunc
	done chan error
	p    *pipeline.Pipeline
}

func newEnv(t *testing.T) *env {
	s := brokertest.RunServer(t)
	nc, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	return &env{t: t, nc: nc, js: js}
}

// start runs a pipeline for the connectors document; vars fill ${...}.
func (e *env) start(doc string, vars map[string]string) {
	e.t.Helper()
	e.startWith(doc, vars, nil)
}

// startWith is start with a say in the options (a clock, say).
func (e *env) startWith(doc string, vars map[string]string, opt func(*pipeline.Options)) {
	e.t.Helper()
	file, err := config.Parse("test.yaml", []byte(doc), func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}, nil)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	o := pipeline.Options{
		JS: e.js, Stream: "HMS_EVENTS", Kinds: catalog.Default(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 5 * time.Second,
	}
	if opt != nil {
		opt(&o)
	}
	p, err := pipeline.New(ctx, o, file.Connectors)
	require.NoError(e.t, err)
	e.stop, e.done, e.p = cancel, make(chan error, 1), p
	go func() { e.done <- p.Run(ctx) }()
	e.t.Cleanup(func() { e.shutdown() })
}

// shutdown stops the pipeline and waits for it to drain.
func (e *env) shutdown() {
	if e.stop == nil {
		return
	}
	e.stop()
	select {
	case err := <-e.done:
		require.NoError(e.t, err)
	case <-time.After(15 * time.Second):
		e.t.Fatal("pipeline did not drain within 15s")
	}
	e.stop = nil
}

// publishRaw publishes body with optional headers, as `nats pub` would.
func (e *env) publishRaw(subject string, body []byte, hdr nats.Header) *jetstream.PubAck {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range hdr {
		m.Header[k] = v
	}
	ack, err := e.js.PublishMsg(context.Background(), m)
	require.NoError(e.t, err)
	return ack
}

// logRecords returns the sync log of connector, oldest first.
func (e *env) logRecords(connector string) []synclog.Record {
	var out []synclog.Record
	for _, m := range brokertest.Messages(e.t, e.js, synclog.Stream, synclog.SubjectPrefix+connector) {
		recs, err := synclog.Decode(m.Data)
		require.NoError(e.t, err)
		out = append(out, recs...)
	}
	return out
}

// recordsWhenStored waits until connector's sync log holds n records
// and returns them: a dead letter is stored before its outcome's record,
// which the acker writes behind the worker.
func (e *env) recordsWhenStored(connector string, n int) []synclog.Record {
	e.waitFor(fmt.Sprintf("%d sync log records", n), func() bool { return len(e.logRecords(connector)) >= n })
	return e.logRecords(connector)
}

// deadLetters returns the dead letters of connector.
func (e *env) deadLetters(connector string) []*jetstream.RawStreamMsg {
	return brokertest.Messages(e.t, e.js, deadletter.Stream, deadletter.SubjectPrefix+connector)
}

// waitFor polls cond until it holds or 15 s pass.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	require.Eventually(e.t, cond, 15*time.Second, 10*time.Millisecond, "waiting for %s", what)
}

// pending returns the consumer's unacked and undelivered counts.
func (e *env) pending(connector string) (ackPending int, numPending uint64) {
	e.t.Helper()
	c, err := e.js.Consumer(context.Background(), "HMS_EVENTS", "extsync-"+connector)
	require.NoError(e.t, err)
	info, err := c.Info(context.Background())
	require.NoError(e.t, err)
	return info.NumAckPending, info.NumPending
}

// httpConnector renders a connectors document with one http connector.
func httpConnector(name, subject, url, extra string) string {
	return strings.TrimPrefix(`
  - name: `+name+`
    kind: http
    subjects: [`+subject+`]
    retry: {max_attempts: 4, initial: 100ms, max: 1s, multiplier: 2, jitter: 0.01}
    http:
      url: `+url+`/workflows/{id}
      headers: {Authorization: "Bearer ${TOKEN}"}
      timeout: 2s`, "\n") + "\n" + extra
}
