package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/synclog"
)

// start runs an admin server with ops on a free loopback port.
func start(t *testing.T, token string, ops *admin.Ops) string {
	t.Helper()
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: token,
		Ready: func(context.Context) error { return nil }})
	require.NoError(t, err)
	if ops != nil {
		s.MountOps(*ops)
	}
	s.Mount("GET /api/v1/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "pong")
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return "http://" + s.Addr()
}

func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
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

func TestTokenGuardsTheAPIButNotHealth(t *testing.T) {
	base := start(t, "s3cret-token", nil)
	code, _ := call(t, "GET", base+"/api/v1/ping", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = call(t, "GET", base+"/api/v1/ping", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := call(t, "GET", base+"/api/v1/ping", "s3cret-token")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "pong", body)
	code, _ = call(t, "GET", base+"/healthz", "")
	require.Equal(t, http.StatusOK, code, "health stays open for probes")
}

// A script guessing tokens gets five tries, then waits: even the right
// token is refused (429, Retry-After) until its wait is over, so a held
// guesser learns nothing.
func TestWrongTokensAreLimitedPerClient(t *testing.T) {
	base := start(t, "s3cret-token", nil)
	for range 5 {
		code, _ := call(t, "GET", base+"/api/v1/ping", "guess")
		require.Equal(t, http.StatusUnauthorized, code)
	}
	req, err := http.NewRequest("GET", base+"/api/v1/ping", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer s3cret-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(body))
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), "too many wrong tokens")
	code, _ := call(t, "GET", base+"/healthz", "")
	require.Equal(t, http.StatusOK, code, "probes are not held up")
}

func TestWithoutTokenOnlyLoopbackIsAnswered(t *testing.T) {
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Ready: func(context.Context) error { return nil }})
	require.NoError(t, err)
	s.Mount("GET /api/v1/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	base := start(t, "", nil)
	code, _ := call(t, "GET", base+"/api/v1/ping", "")
	require.Equal(t, http.StatusOK, code, "loopback is answered")

	// The same handler chain, asked from another host.
	req := httptest.NewRequest("GET", "/api/v1/ping", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, rec.Body.String(), "only on loopback when EXTSYNC_ADMIN_TOKEN is not set")
}

func TestOpsEndpoints(t *testing.T) {
	srv := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, srv)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, c := range []string{"court", "court", "clinic"} {
		require.NoError(t, deadletter.NewParker(js).Park(ctx, &deadletter.Letter{
			Connector: c, Stream: "HMS_EVENTS", StreamSeq: uint64(i + 1), EventID: fmt.Sprintf("e%d", i+1),
			Status: "permanent", Reason: "refused", Body: []byte(`{"id":"x"}`),
		}))
	}
	ops := &admin.Ops{JS: js, Connectors: func(context.Context) []admin.ConnectorView {
		return []admin.ConnectorView{{Name: "court", Status: map[string]any{"name": "court", "lag": 3}}}
	}}
	base := start(t, "tok", ops)

	code, body := call(t, "GET", base+"/api/v1/connectors/court", "tok")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"name":"court","lag":3}`, body)
	code, _ = call(t, "GET", base+"/api/v1/connectors/nope", "tok")
	require.Equal(t, http.StatusNotFound, code)

	code, body = call(t, "GET", base+"/api/v1/dlq?connector=court", "tok")
	require.Equal(t, http.StatusOK, code)
	var letters []deadletter.Entry
	require.NoError(t, json.Unmarshal([]byte(body), &letters))
	require.Len(t, letters, 2)
	code, body = call(t, "GET", base+"/api/v1/dlq?since=yesterday", "tok")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "want a time such as")

	code, body = call(t, "POST", base+"/api/v1/dlq/replay", "tok")
	require.Equal(t, http.StatusBadRequest, code, "no filter, no all=true")
	require.Contains(t, body, "all=true")
	code, body = call(t, "POST", base+"/api/v1/dlq/replay?connector=court&dry_run=true", "tok")
	require.Equal(t, http.StatusConflict, code, "a dry run makes the replay's checks: %s", body)
	code, body = call(t, "POST", base+"/api/v1/dlq/replay?connector=court", "tok")
	require.Equal(t, http.StatusConflict, code, "court has no replay consumer here: %s", body)
	require.Contains(t, body, `connector \"court\" has no replay consumer`)

	code, body = call(t, "POST", base+"/api/v1/dlq/purge?id=e3", "tok")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"purged":1}`, body)
	require.Len(t, brokertest.Messages(t, js, deadletter.Stream, ""), 2, "only e3 purged; nothing replayed")

	code, body = call(t, "GET", base+"/api/v1/log?status=admin", "tok")
	require.Equal(t, http.StatusOK, code)
	var recs []synclog.Record
	require.NoError(t, json.Unmarshal([]byte(body), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, "clinic", recs[0].Connector)
	require.Equal(t, "dlq purge", recs[0].Action)
	require.Equal(t, 1, recs[0].Count)
	require.True(t, strings.HasPrefix(recs[0].Actor, "api(token)@127.0.0.1"), recs[0].Actor)
	require.NotContains(t, body, "tok\"", "the token itself is never recorded")
}
