package test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// authSink records the Authorization header of each request.
type authSink struct {
	mu   sync.Mutex
	seen []string
}

func (s *authSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, r.Header.Get("Authorization"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *authSink) got(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.seen {
		if h == v {
			return true
		}
	}
	return false
}

func authedCall(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestSecretsFromFilesAndConfinement runs serve the way a container
// platform does: the connectors file in a configuration directory, secrets
// mounted as files elsewhere. The connector's token comes from
// ${file:...}, the admin token from EXTSYNC_ADMIN_TOKEN_FILE; documents
// applied through PUT /api/v1/connectors cannot name files outside the
// two directories, and no secret reaches the log or an error.
func TestSecretsFromFilesAndConfinement(t *testing.T) {
	sink := &authSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)

	configDir, secretsDir, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	const courtToken, adminToken, private = "court-token-from-file", "admin-token-from-file", "private-content-elsewhere"
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "court-token"), []byte(courtToken+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(secretsDir, "admin-token"), []byte(adminToken+"\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(elsewhere, "key.pem"), []byte(private), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(elsewhere, "key.pem"), filepath.Join(configDir, "link.pem")))
	conf := filepath.Join(configDir, "connectors.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http:
      url: "%s/workflows/{id}"
      headers: {Authorization: "Bearer ${file:%s/court-token}"}
`, srv.URL, secretsDir)), 0o600))

	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "EXTSYNC_SECRETS_DIR="+secretsDir,
		"EXTSYNC_ADMIN_TOKEN_FILE="+filepath.Join(secretsDir, "admin-token"))
	var log lockedBuffer
	serve := killStartTo(t, env, &log)
	res := binRun(t, env[2:], "publish", "hms.workflow.updated", `{"id":"wf-1"}`)
	require.Equal(t, 0, res.code, res.stderr)
	require.Eventually(t, func() bool { return sink.got("Bearer " + courtToken) }, 20*time.Second, 20*time.Millisecond)

	api := "http://" + envValue(env, "EXTSYNC_HTTP_ADDR=") + "/api/v1/connectors/evil"
	code, _ := authedCall(t, "PUT", api, "", connectorDoc("evil", "hms.workflow.updated", srv.URL))
	require.Equal(t, http.StatusUnauthorized, code, "the admin token from the file guards the API")

	for name, tc := range map[string]struct{ block, want string }{
		"file secret by dot-dot": {
			`headers: {X-Stolen: "${file:../../../../../../etc/passwd}"}`,
			`connectors[0].http.headers.X-Stolen: ${file:../../../../../../etc/passwd}: ../../../../../../etc/passwd is outside`,
		},
		"file secret by absolute path": {
			`headers: {X-Stolen: "${file:` + elsewhere + `/key.pem}"}`,
			`connectors[0].http.headers.X-Stolen: ${file:` + elsewhere + `/key.pem}: ` + elsewhere + `/key.pem is outside`,
		},
		"PEM file by dot-dot": {
			`auth: {tls: {ca: "../` + filepath.Base(elsewhere) + `/key.pem"}}`,
			`connectors[0].http: auth.tls.ca: ../` + filepath.Base(elsewhere) + `/key.pem is outside`,
		},
		"PEM file by a link out": {
			`auth: {tls: {ca: link.pem}}`,
			`auth.tls.ca: cannot read: link.pem: path escapes from parent`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf("connectors:\n  - name: evil\n    kind: http\n    subjects: [hms.workflow.updated]\n    http:\n      url: \"%s/{id}\"\n      %s\n",
				srv.URL, tc.block)
			code, body := authedCall(t, "PUT", api, adminToken, doc)
			require.Equal(t, http.StatusBadRequest, code, body)
			require.Contains(t, body, "request body:")
			require.Contains(t, body, tc.want)
			require.NotContains(t, body, private)
			require.NotContains(t, body, "root:")
		})
	}
	code, body := authedCall(t, "GET", "http://"+envValue(env, "EXTSYNC_HTTP_ADDR=")+"/api/v1/connectors", adminToken, "")
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, body, "evil", "nothing refused was stored")

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	for _, secret := range []string{courtToken, adminToken, private} {
		require.NotContains(t, log.String(), secret)
	}
}
