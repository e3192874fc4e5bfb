package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/test/syncbuf"
)

// pathSink records the paths it was sent.
type pathSink struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newPathSink(t *testing.T) *pathSink {
	s := &pathSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pathSink) got(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.paths, path)
}

// lockedBuffer collects a process's log safely.
type lockedBuffer = syncbuf.Buffer

func connectorDoc(name, subject, url string) string {
	return fmt.Sprintf("connectors:\n  - name: %s\n    kind: http\n    subjects: [%s]\n    http: {url: \"%s/{id}\"}\n",
		name, subject, url)
}

// TestLiveRegistryAcrossTwoInstances applies, updates and removes
// connectors while two serve processes share one NATS, and checks each
// change reaches both without a restart.
func TestLiveRegistryAcrossTwoInstances(t *testing.T) {
	a, b, c := newPathSink(t), newPathSink(t), newPathSink(t)
	env1 := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", connectorDoc("court", "hms.workflow.updated", a.URL)))
	log1 := &lockedBuffer{}
	killStartTo(t, env1, log1)
	natsURL := "nats://" + envValue(env1, "EXTSYNC_NATS_LISTEN=")
	env2 := append(binBaseEnv(t), "EXTSYNC_NATS_URL="+natsURL,
		"EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", connectorDoc("court", "hms.workflow.updated", a.URL)))
	log2 := &lockedBuffer{}
	serve2 := exec.Command(binary(t), "serve")
	serve2.Env, serve2.Stdout, serve2.Stderr = env2, log2, log2
	require.NoError(t, serve2.Start())
	t.Cleanup(func() { _ = serve2.Process.Kill() })
	serveReady(t, env2, serve2)
	admins := []string{"http://" + envValue(env1, "EXTSYNC_HTTP_ADDR="), "http://" + envValue(env2, "EXTSYNC_HTTP_ADDR=")}
	for _, adm := range admins {
		require.Eventually(t, func() bool {
			resp, err := http.Get(adm + "/readyz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == http.StatusOK
		}, 30*time.Second, 50*time.Millisecond)
	}
	cli := func(args ...string) binResult { return binRun(t, env1[2:], args...) }
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	pub := func(subject, id string) {
		require.NoError(t, nc.Publish(subject, fmt.Appendf(nil, `{"id":%q}`, id)))
		require.NoError(t, nc.Flush())
	}
	bothLogged := func(msg string, n int) {
		require.Eventually(t, func() bool { return log1.Count(msg) >= n && log2.Count(msg) >= n },
			20*time.Second, 20*time.Millisecond, msg)
	}

	// A new connector starts on both instances.
	clinicFile := binWriteFile(t, "clinic.yaml", connectorDoc("clinic", "hms.scheduling.updated", b.URL))
	res := cli("connectors", "apply", "-f", clinicFile)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "running on 2 of 2 instances")
	require.Contains(t, res.stdout, "applied 1 connector: clinic")
	res = cli("connectors", "apply", "-f", clinicFile)
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^clinic: revision \d+ \(unchanged\)$`, res.stdout)
	require.Contains(t, res.stdout, "unchanged, left running as they are: clinic\n")
	bothLogged(`msg="connector applied from the connector store" connector=clinic`, 1)
	for _, adm := range admins {
		body, _ := serveGet(t, adm+"/api/v1/connectors")
		require.Contains(t, body, `"name": "clinic"`)
	}
	pub("hms.scheduling.updated", "s-1")
	require.Eventually(t, func() bool { return b.got("/s-1") }, 20*time.Second, 10*time.Millisecond)

	// An update moves court to another system once both have swapped.
	res = cli("connectors", "apply", "-f", binWriteFile(t, "court.yaml", connectorDoc("court", "hms.workflow.updated", c.URL)))
	require.Equal(t, 0, res.code, res.stderr)
	bothLogged(`msg="connector applied from the connector store" connector=court`, 1)
	pub("hms.workflow.updated", "wf-2")
	require.Eventually(t, func() bool { return c.got("/wf-2") }, 20*time.Second, 10*time.Millisecond)
	require.False(t, a.got("/wf-2"), "the old URL gets nothing after the update")

	// Removal stops it everywhere; its consumer keeps the backlog.
	res = cli("connectors", "rm", "clinic")
	require.Equal(t, 0, res.code, res.stderr)
	bothLogged(`msg="connector removed from the connector store: stopped" connector=clinic`, 1)
	pub("hms.scheduling.updated", "s-2")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cons, err := js.Consumer(context.Background(), "HMS_EVENTS", "extsync-clinic")
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 1
	}, 20*time.Second, 20*time.Millisecond, "s-2 waits in the removed connector's consumer")
	require.False(t, b.got("/s-2"))

	var rows []map[string]any
	res = cli("connectors", "ls", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rows))
	require.Len(t, rows, 1)
	require.Equal(t, "court", rows[0]["name"])
	require.Equal(t, "http", rows[0]["kind"])

	res = cli("connectors", "rm", "nope")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no such connector "nope"`)
	res = cli("connectors", "apply", "-f", binWriteFile(t, "bad.yaml", "connectors:\n  - name: x\n    kind: ftp\n"))
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "bad.yaml:3:")
	res = cli("log", "--status", "admin", "--connector", "clinic")
	require.Contains(t, res.stdout, "connectors rm of 1 by cli:")

	// The admin API applies and removes the same way; a re-applied
	// connector resumes at its consumer's position, so s-2 arrives.
	code, body := apiCall(t, "PUT", admins[1]+"/api/v1/connectors/clinic",
		connectorDoc("clinic", "hms.scheduling.updated", b.URL))
	require.Equal(t, http.StatusOK, code, body)
	bothLogged(`msg="connector applied from the connector store" connector=clinic`, 2)
	require.Eventually(t, func() bool { return b.got("/s-2") }, 20*time.Second, 10*time.Millisecond)
	code, body = apiCall(t, "DELETE", admins[0]+"/api/v1/connectors/clinic", "")
	require.Equal(t, http.StatusOK, code, body)
	bothLogged(`msg="connector removed from the connector store: stopped" connector=clinic`, 2)
	res = cli("log", "--status", "admin", "--connector", "clinic")
	require.Contains(t, res.stdout, "connectors apply of 1 by api@127.0.0.1")
	require.Contains(t, res.stdout, "connectors rm of 1 by api@127.0.0.1")
}

func apiCall(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
