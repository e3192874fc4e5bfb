package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/cli"
	"github.com/hms/extsync/pkg/synclog"
	"github.com/hms/extsync/test/syncbuf"
)

// records is a system keeping the last version PUT per path; wipe loses
// them all, as a system restored from nothing.
type records struct {
	mu   sync.Mutex
	last map[string]float64
	puts int
}

func (s *records) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Version float64 `json:"version"`
	}
	raw, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(raw, &body)
	s.mu.Lock()
	s.last[r.URL.Path] = body.Version
	s.puts++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *records) wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.puts = map[string]float64{}, 0
}

// holding is how many records the system holds at version v, and how
// many requests it got since the last wipe.
func (s *records) holding(v float64) (n, puts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, got := range s.last {
		if got == v {
			n++
		}
	}
	return n, s.puts
}

// serveWith runs `extsync serve` in this process with connectors file
// doc and an embedded NATS, and points commands at it.
func serveWith(t *testing.T, doc string) jetstream.JetStream {
	t.Helper()
	dir := t.TempDir()
	conf, ready := filepath.Join(dir, "c.yaml"), filepath.Join(dir, "ready.json")
	require.NoError(t, os.WriteFile(conf, []byte(doc), 0o600))
	for k, v := range map[string]string{
		"EXTSYNC_DATA_DIR": filepath.Join(dir, "data"), "EXTSYNC_CONNECTORS": conf, "EXTSYNC_READY_FILE": ready,
		"EXTSYNC_NATS_LISTEN": "127.0.0.1:0", "EXTSYNC_HTTP_ADDR": "127.0.0.1:0", "EXTSYNC_NATS_URL": "",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{}
	exited := make(chan int, 1)
	go func() { exited <- cli.Run(ctx, []string{"serve"}, io.Discard, logs) }()
	t.Cleanup(func() { cancel(); <-exited })
	var rep struct {
		NATSURL string `json:"nats_url"`
	}
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(ready)
		return err == nil && json.Unmarshal(data, &rep) == nil
	}, 30*time.Second, 10*time.Millisecond, "ready file; log: %s", logs)
	t.Setenv("EXTSYNC_NATS_LISTEN", strings.TrimPrefix(rep.NATSURL, "nats://"))
	nc, err := nats.Connect(rep.NATSURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

type resyncOut struct {
	Connector string `json:"connector"`
	Entities  int    `json:"entities"`
	Sent      int    `json:"sent"`
	DryRun    bool   `json:"dry_run"`
}

func resync(t *testing.T, args ...string) (code int, rep resyncOut, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), append([]string{"resync"}, args...), &out, &errb)
	if code == 0 && strings.Contains(strings.Join(args, " "), "--json") {
		require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	}
	return code, rep, errb.String()
}

func TestResyncSendsTheNewestVersionOfEachEntityToASystemThatLostThem(t *testing.T) {
	sys := &records{last: map[string]float64{}}
	srv := httptest.NewServer(sys)
	t.Cleanup(srv.Close)
	js := serveWith(t, fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    version: version
    http: {url: "%s/{id}"}
`, srv.URL))
	ctx := context.Background()
	for v := 1; v <= 3; v++ {
		for e := range 20 {
			_, err := js.Publish(ctx, "hms.workflow.updated", fmt.Appendf(nil, `{"id":"wf-%02d","version":%d}`, e, v))
			require.NoError(t, err)
		}
	}
	require.Eventually(t, func() bool { n, _ := sys.holding(3); return n == 20 }, 20*time.Second, 10*time.Millisecond)
	sys.wipe()

	code, rep, stderr := resync(t, "court", "--dry-run", "--json")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, resyncOut{Connector: "court", Entities: 20, Sent: 0, DryRun: true}, rep)

	code, rep, stderr = resync(t, "court", "--entity", "wf-03", "--entity", "wf-11", "--entity", "wf-99", "--json")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 2, rep.Sent)
	require.Contains(t, stderr, "note: 1 of the 3 named entities are not in the snapshot")
	require.Eventually(t, func() bool { n, _ := sys.holding(3); return n == 2 }, 20*time.Second, 10*time.Millisecond)
	_, puts := sys.holding(3)
	require.Equal(t, 2, puts, "the dry run sent nothing; --entity only those")
	require.Equal(t, map[string]float64{"/wf-03": 3, "/wf-11": 3}, sys.last)

	sys.wipe()
	began := time.Now()
	code, rep, stderr = resync(t, "court", "--rate", "40/s", "--json")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 20, rep.Sent)
	require.GreaterOrEqual(t, time.Since(began), 19*25*time.Millisecond, "20 sends at 40/s")
	require.Eventually(t, func() bool { n, puts := sys.holding(3); return n == 20 && puts == 20 }, 20*time.Second, 10*time.Millisecond)

	// The sync log says who sent them again.
	var actors []string
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, synclog.Query(qctx, js, synclog.Filter{Connector: "court", Entity: "wf-03", Status: "delivered"},
		func(r synclog.Record) error { actors = append(actors, r.Actor); return nil }))
	require.Len(t, actors, 5, "versions 1-3, then two resyncs")
	require.True(t, strings.HasPrefix(actors[4], "cli:"), actors)

	code, _, stderr = resync(t, "nobody")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `no connector "nobody"`)
}
