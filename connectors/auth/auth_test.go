package auth

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recorded is one request as a server received it.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   string
}

// recorder is a handler that keeps every request and answers status
// (200 if 0).
type recorder struct {
	status int

	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
	rec.mu.Unlock()
	if rec.status != 0 {
		w.WriteHeader(rec.status)
	}
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// headers returns the named header of each request, in order.
func (rec *recorder) headers(name string) []string {
	var out []string
	for _, r := range rec.requests() {
		out = append(out, r.Header.Get(name))
	}
	return out
}

func newRecorder(t *testing.T, status int) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{status: status}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func newClient(t *testing.T, cfg *Config) *http.Client {
	t.Helper()
	c, err := cfg.NewClient(nil, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func do(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestStaticCredentialsReachTheServer(t *testing.T) {
	tests := []struct {
		name   string
		cfg    *Config
		header string
		want   string
	}{
		{"bearer", &Config{Bearer: "tok-123"}, "Authorization", "Bearer tok-123"},
		{"basic", &Config{Basic: &BasicAuth{User: "clerk", Password: "pa:ss wörd"}}, "Authorization", basic("clerk", "pa:ss wörd")},
		{"basic without password", &Config{Basic: &BasicAuth{User: "clerk"}}, "Authorization", basic("clerk", "")},
		{"api key", &Config{APIKey: &APIKey{Header: "X-Api-Key", Value: "k-1"}}, "X-Api-Key", "k-1"},
		{"api key in Authorization", &Config{APIKey: &APIKey{Header: "authorization", Value: "ApiKey k-1"}}, "Authorization", "ApiKey k-1"},
		{"no auth block", nil, "Authorization", ""},
		{"empty auth block", &Config{}, "Authorization", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorder(t, 0)
			c := newClient(t, tt.cfg)
			for range 2 {
				req, err := http.NewRequest(http.MethodPut, srv.URL+"/workflows/wf-1", strings.NewReader(`{"a":1}`))
				require.NoError(t, err)
				req.Header.Set("X-Other", "kept")
				require.Equal(t, http.StatusOK, do(t, c, req).StatusCode)
				require.Empty(t, req.Header.Get(tt.header), "the caller's request was modified")
			}
			require.Equal(t, []string{tt.want, tt.want}, rec.headers(tt.header))
			require.Equal(t, []string{"kept", "kept"}, rec.headers("X-Other"))
			for _, r := range rec.requests() {
				require.Equal(t, `{"a":1}`, r.Body)
			}
		})
	}
}

func TestCredentialsReplaceTheCallersHeader(t *testing.T) {
	rec, srv := newRecorder(t, 0)
	c := newClient(t, &Config{Bearer: "tok-1"})
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer stale")
	do(t, c, req)
	require.Equal(t, []string{"Bearer tok-1"}, rec.headers("Authorization"))
	require.Equal(t, "Bearer stale", req.Header.Get("Authorization"))
}

// A redirect comes back to the caller: following it could turn a PUT into
// a GET whose 200 looks like a delivery.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, cfg := range []*Config{nil, {Bearer: "tok-1"}, {TLS: nil}} {
		rec, srv := newRecorder(t, 0)
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, srv.URL+"/moved", http.StatusFound)
		}))
		t.Cleanup(origin.Close)
		c := newClient(t, cfg)
		req, err := http.NewRequest(http.MethodPut, origin.URL+"/w/1", strings.NewReader("{}"))
		require.NoError(t, err)
		resp := do(t, c, req)
		require.Equal(t, http.StatusFound, resp.StatusCode)
		require.Empty(t, rec.requests(), "the redirect was followed")
	}
}

// Credentials are for the configured host. A caller that turns redirects
// on gets no credentials sent to another host: net/http drops
// Authorization there itself, and the transports do not put it (or an API
// key header) back.
func TestCredentialsStayWithTheConfiguredHost(t *testing.T) {
	tokenURL := startTokenEndpoint(t, &tokenEndpoint{})
	tests := []struct {
		name   string
		cfg    *Config
		header string
	}{
		{"bearer", &Config{Bearer: "SECRET"}, "Authorization"},
		{"basic", &Config{Basic: &BasicAuth{User: "u", Password: "SECRET"}}, "Authorization"},
		{"api key", &Config{APIKey: &APIKey{Header: "X-Api-Key", Value: "SECRET"}}, "X-Api-Key"},
		{"oauth2", oauth2Config(tokenURL), "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other, otherSrv := newRecorder(t, 0)
			// Same port space, another host name: 127.0.0.1 -> localhost.
			elsewhere := strings.Replace(otherSrv.URL, "127.0.0.1", "localhost", 1) + "/collect"
			rec, _ := newRecorder(t, 0)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec.ServeHTTP(w, r)
				http.Redirect(w, r, elsewhere, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(origin.Close)

			c := newClient(t, tt.cfg)
			c.CheckRedirect = nil // the caller follows redirects
			req, err := http.NewRequest(http.MethodPut, origin.URL+"/w/1", strings.NewReader("{}"))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, do(t, c, req).StatusCode)
			require.Len(t, other.requests(), 1, "the redirect was not followed")
			require.Empty(t, other.headers(tt.header)[0], "credentials sent to %s", elsewhere)
			require.NotEmpty(t, rec.headers(tt.header)[0], "no credentials for the configured host")
		})
	}
}

func TestTransportsCloseIdleConnections(t *testing.T) {
	for _, cfg := range []*Config{nil, {Bearer: "t"}, {OAuth2: &OAuth2{TokenURL: "https://idp.example/token", ClientID: "i", ClientSecret: "s"}}} {
		c, err := cfg.NewClient(nil, 0)
		require.NoError(t, err)
		_, ok := c.Transport.(interface{ CloseIdleConnections() })
		require.True(t, ok, "%T cannot close idle connections", c.Transport)
		c.CloseIdleConnections()
	}
}
