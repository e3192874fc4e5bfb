package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// TestServeAndPublishCommands drives the product as a user does: `extsync
// serve` in one process, `extsync publish` and a plain `nats pub` from
// others, and checks what the external system received.
func TestServeAndPublishCommands(t *testing.T) {
	var mu sync.Mutex
	got := map[string]http.Header{}
	bodies := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path], bodies[r.URL.Path] = r.Header.Clone(), string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    mapping: {name: workflow_name}
    http:
      url: "%s/workflows/{id}"
      auth: {basic: {user: extsync, password: "${SERVE_PW}"}}
`, srv.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "SERVE_PW=pw-9")
	serve := killStart(t, env)

	res := binRun(t, env[2:], "publish", "hms.workflow.updated", `{"id":"wf-7","name":"Attorney Rotation"}`, "--version", "3")
	require.Equal(t, 0, res.code, res.stderr)
	m := regexp.MustCompile(`published (\S+) to hms.workflow.updated as HMS_EVENTS #\d+`).FindStringSubmatch(res.stdout)
	require.NotNil(t, m, res.stdout)
	id := m[1]

	nc, err := nats.Connect("nats://" + envValue(env, "EXTSYNC_NATS_LISTEN="))
	require.NoError(t, err)
	require.NoError(t, nc.Publish("hms.workflow.updated", []byte(`{"id":"wf-8","name":"Night Court"}`)))
	require.NoError(t, nc.Flush())
	nc.Close()

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 20*time.Second, 10*time.Millisecond)
	mu.Lock()
	require.Equal(t, id, got["/workflows/wf-7"].Get("Idempotency-Key"))
	require.JSONEq(t, `{"workflow_name":"Attorney Rotation"}`, bodies["/workflows/wf-7"])
	require.JSONEq(t, `{"workflow_name":"Night Court"}`, bodies["/workflows/wf-8"])
	require.Regexp(t, `^HMS_EVENTS:\d+$`, got["/workflows/wf-8"].Get("Idempotency-Key"))
	user, pw, ok := (&http.Request{Header: got["/workflows/wf-7"]}).BasicAuth()
	mu.Unlock()
	require.True(t, ok)
	require.Equal(t, "extsync", user)
	require.Equal(t, "pw-9", pw)

	admin := "http://" + envValue(env, "EXTSYNC_HTTP_ADDR=")
	for path, want := range map[string]string{
		"/healthz": "ok", "/readyz": "ready",
		"/metrics": `extsync_deliveries_total{extsync_connector="court",extsync_outcome="delivered"`,
		"/":        `data-connector="court"`, // the console, to loopback without a token
	} {
		body, code := serveGet(t, admin+path)
		require.Equal(t, http.StatusOK, code, path)
		require.Contains(t, body, want, path)
	}

	res = binRun(t, env[2:], "publish", "hms.workflow.updated", `not json`)
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "data is not valid JSON")

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
}

func serveGet(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), resp.StatusCode
}
