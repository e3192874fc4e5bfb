package auth

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

const (
	testClientID = "extsync"
	testSecret   = "SECRET-client-secret"
)

// tokenEndpoint is an OAuth2 token endpoint for the client-credentials
// grant. It issues tok-1, tok-2, ... to testClientID/testSecret, or, with
// status set, answers every request with status, contentType and body.
type tokenEndpoint struct {
	expiresIn   int // 3600 if 0
	status      int
	contentType string
	body        string

	mu     sync.Mutex
	forms  []url.Values
	styles []string // "header" or "params": where the client credentials came
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	style := "header"
	id, secret, ok := r.BasicAuth()
	if !ok {
		style = "params"
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	e.mu.Lock()
	e.forms = append(e.forms, r.PostForm)
	e.styles = append(e.styles, style)
	n := len(e.forms)
	e.mu.Unlock()

	if e.status != 0 {
		w.Header().Set("Content-Type", e.contentType)
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, e.body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"unsupported_grant_type"}`)
		return
	}
	if id != testClientID || secret != testSecret {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
		return
	}
	expires := e.expiresIn
	if expires == 0 {
		expires = 3600
	}
	_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, expires)
}

func (e *tokenEndpoint) calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.forms)
}

func (e *tokenEndpoint) form(i int) url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.forms[i]
}

func (e *tokenEndpoint) authStyles() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.styles...)
}

func startTokenEndpoint(t *testing.T, e *tokenEndpoint) string {
	t.Helper()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL + "/oauth/token"
}

// api accepts a Bearer tok-N that has not been revoked, and answers 401
// otherwise (always, if reject is set).
type api struct {
	reject bool

	mu      sync.Mutex
	revoked map[string]bool
	reqs    []recorded
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := r.Header.Get("Authorization")
	a.mu.Lock()
	a.reqs = append(a.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
	ok := strings.HasPrefix(h, "Bearer tok-") && !a.revoked[strings.TrimPrefix(h, "Bearer ")] && !a.reject
	a.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (a *api) revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.revoked == nil {
		a.revoked = map[string]bool{}
	}
	a.revoked[token] = true
}

func (a *api) requests() []recorded {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]recorded(nil), a.reqs...)
}

func (a *api) authorizations() []string {
	var out []string
	for _, r := range a.requests() {
		out = append(out, r.Header.Get("Authorization"))
	}
	return out
}

func startAPI(t *testing.T, a *api) string {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

func oauth2Config(tokenURL string) *Config {
	return &Config{OAuth2: &OAuth2{TokenURL: tokenURL, ClientID: testClientID, ClientSecret: testSecret}}
}

func put(t *testing.T, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	require.NoError(t, err)
	return req
}

func TestOAuth2TokenIsFetchedOnceAndReused(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{}
	apiURL := startAPI(t, a)
	cfg := oauth2Config(startTokenEndpoint(t, tokens))
	cfg.OAuth2.Scopes = []string{"schedule.write", "schedule.read"}
	cfg.OAuth2.Params = map[string]string{"audience": "https://court.example"}
	c := newClient(t, cfg)

	require.Equal(t, http.StatusOK, do(t, c, put(t, apiURL+"/w/1", `{"n":1}`)).StatusCode)
	require.Equal(t, http.StatusOK, do(t, c, put(t, apiURL+"/w/2", `{"n":2}`)).StatusCode)

	require.Equal(t, 1, tokens.calls())
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-1"}, a.authorizations())
	form := tokens.form(0)
	require.Equal(t, "client_credentials", form.Get("grant_type"))
	require.Equal(t, "schedule.write schedule.read", form.Get("scope"))
	require.Equal(t, "https://court.example", form.Get("audience"))
}

func TestOAuth2AuthStyle(t *testing.T) {
	for _, style := range []string{"", "header", "params"} {
		t.Run(style, func(t *testing.T) {
			tokens := &tokenEndpoint{}
			a := &api{}
			apiURL := startAPI(t, a)
			cfg := oauth2Config(startTokenEndpoint(t, tokens))
			cfg.OAuth2.AuthStyle = style
			c := newClient(t, cfg)
			require.Equal(t, http.StatusOK, do(t, c, put(t, apiURL+"/w", "{}")).StatusCode)
			want := style
			if want == "" {
				want = "header"
			}
			require.Equal(t, []string{want}, tokens.authStyles())
			if want == "header" {
				require.Empty(t, tokens.form(0).Get("client_secret"))
			}
		})
	}
}

func TestOAuth2ConcurrentRequestsShareOneToken(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() {
			resp, err := c.Do(put(t, apiURL+"/w", "{}"))
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, s := range statuses {
		require.Equal(t, http.StatusOK, s)
	}
	require.Equal(t, 1, tokens.calls())
}

// A token about to expire (within oauth2's 10 s margin) is not reused.
func TestOAuth2ExpiredTokenIsReplaced(t *testing.T) {
	tokens := &tokenEndpoint{expiresIn: 5}
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	do(t, c, put(t, apiURL+"/w", "{}"))
	do(t, c, put(t, apiURL+"/w", "{}"))
	require.Equal(t, 2, tokens.calls())
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-2"}, a.authorizations())
}

// The API refuses a cached token (revoked, keys rotated): the token is
// dropped, a fresh one fetched, and the request sent once more with its
// body intact.
func TestOAuth2RefreshesTheTokenOn401(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	do(t, c, put(t, apiURL+"/w/1", `{"n":1}`))
	a.revoke("tok-1")

	const body = `{"hearingId":"H-1","courtroom":"4B"}`
	resp := do(t, c, put(t, apiURL+"/w/2", body))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, tokens.calls())

	reqs := a.requests()
	require.Len(t, reqs, 3)
	require.Equal(t, "Bearer tok-1", reqs[1].Header.Get("Authorization"))
	require.Equal(t, "Bearer tok-2", reqs[2].Header.Get("Authorization"))
	for _, r := range reqs[1:] {
		require.Equal(t, http.MethodPut, r.Method)
		require.Equal(t, "/w/2", r.Path)
		require.Equal(t, body, r.Body)
	}

	// The fresh token is cached in turn.
	do(t, c, put(t, apiURL+"/w/3", "{}"))
	require.Equal(t, 2, tokens.calls())
	require.Equal(t, "Bearer tok-2", a.authorizations()[3])
}

// Only one retry: an API that keeps answering 401 gets the request twice,
// and the caller sees the 401.
func TestOAuth2RetriesOnce(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{reject: true}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	resp := do(t, c, put(t, apiURL+"/w", `{"n":1}`))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Len(t, a.requests(), 2)
	require.Equal(t, 2, tokens.calls())
}

// A body that cannot be read again (no GetBody) is not resent: the caller
// gets the 401, and the next request has a fresh token.
func TestOAuth2WithoutGetBodyReturnsThe401(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	do(t, c, put(t, apiURL+"/w/1", "{}"))
	a.revoke("tok-1")
	req, err := http.NewRequest(http.MethodPut, apiURL+"/w/2", io.MultiReader(strings.NewReader(`{"n":2}`)))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	resp := do(t, c, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Len(t, a.requests(), 2)
	require.Equal(t, 1, tokens.calls())

	resp = do(t, c, put(t, apiURL+"/w/3", "{}"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, tokens.calls())
	require.Equal(t, "Bearer tok-2", a.authorizations()[2])
}

func TestOAuth2RetryWithoutBody(t *testing.T) {
	tokens := &tokenEndpoint{}
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(startTokenEndpoint(t, tokens)))

	do(t, c, put(t, apiURL+"/w/1", "{}"))
	a.revoke("tok-1")
	req, err := http.NewRequest(http.MethodDelete, apiURL+"/w/1", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, do(t, c, req).StatusCode)
	require.Equal(t, 2, tokens.calls())
}

// Token endpoint failures are ErrToken, classified, and never show the
// client secret, even when the endpoint echoes it.
func TestOAuth2TokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name     string
		endpoint *tokenEndpoint
		secret   string // the configured secret, testSecret if empty
		class    connectors.Class
		want     []string
	}{
		{
			name:     "wrong secret",
			endpoint: &tokenEndpoint{},
			secret:   "SECRET-wrong",
			class:    connectors.Permanent,
			want:     []string{"401 Unauthorized", "invalid_client"},
		},
		{
			name: "invalid_client echoing the secret",
			endpoint: &tokenEndpoint{status: http.StatusUnauthorized, contentType: "application/json",
				body: `{"error":"invalid_client","error_description":"client secret SECRET-client-secret is wrong"}`},
			class: connectors.Permanent,
			want:  []string{"401 Unauthorized", "invalid_client", "[redacted]"},
		},
		{
			name: "400 invalid_scope",
			endpoint: &tokenEndpoint{status: http.StatusBadRequest, contentType: "application/json",
				body: `{"error":"invalid_scope"}`},
			class: connectors.Permanent,
			want:  []string{"400 Bad Request", "invalid_scope"},
		},
		{
			name:     "404: wrong token_url",
			endpoint: &tokenEndpoint{status: http.StatusNotFound, contentType: "text/html", body: "<h1>SECRET-client-secret</h1>"},
			class:    connectors.Permanent,
			want:     []string{"404 Not Found"},
		},
		{
			name:     "503",
			endpoint: &tokenEndpoint{status: http.StatusServiceUnavailable, contentType: "text/plain", body: "SECRET-client-secret overloaded"},
			class:    connectors.Transient,
			want:     []string{"503 Service Unavailable"},
		},
		{
			name:     "429",
			endpoint: &tokenEndpoint{status: http.StatusTooManyRequests},
			class:    connectors.Transient,
			want:     []string{"429 Too Many Requests"},
		},
		{
			name: "temporarily_unavailable",
			endpoint: &tokenEndpoint{status: http.StatusBadRequest, contentType: "application/json",
				body: `{"error":"temporarily_unavailable"}`},
			class: connectors.Transient,
			want:  []string{"temporarily_unavailable"},
		},
		{
			name:     "200 without a token",
			endpoint: &tokenEndpoint{status: http.StatusOK, contentType: "application/json", body: `{"token":"SECRET-client-secret"}`},
			class:    connectors.Transient,
			want:     []string{"missing access_token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &api{}
			apiURL := startAPI(t, a)
			cfg := oauth2Config(startTokenEndpoint(t, tt.endpoint) + "?tenant=SECRET-in-query")
			if tt.secret != "" {
				cfg.OAuth2.ClientSecret = tt.secret
			}
			c := newClient(t, cfg)

			resp, err := c.Do(put(t, apiURL+"/w", "{}"))
			require.Nil(t, resp)
			require.ErrorIs(t, err, ErrToken)
			var te *TokenError
			require.ErrorAs(t, err, &te)
			require.Equal(t, tt.class, te.Class())
			require.Equal(t, tt.class, Classify(err))
			require.Equal(t, tt.class, Classify(fmt.Errorf("PUT /w: %w", err)))
			msg := err.Error()
			require.Contains(t, msg, "oauth2: cannot get an access token from "+strings.TrimSuffix(cfg.OAuth2.TokenURL, "?tenant=SECRET-in-query"))
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
			require.NotContains(t, msg, "SECRET")
			require.NotContains(t, fmt.Sprintf("%+v", te), "SECRET")
			require.Empty(t, a.requests(), "the API was called without a token")
		})
	}
}

func TestOAuth2TokenEndpointUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	tokenURL := srv.URL + "/token"
	srv.Close()
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(tokenURL))

	_, err := c.Do(put(t, apiURL+"/w", "{}"))
	require.ErrorIs(t, err, ErrToken)
	require.True(t, connectors.IsNetwork(err))
	require.Equal(t, connectors.Transient, Classify(err))
	require.NotContains(t, err.Error(), "SECRET")
	require.Empty(t, a.requests())
}

func TestOAuth2TokenEndpointTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	apiURL := startAPI(t, &api{})
	c, err := oauth2Config(srv.URL+"/token").NewClient(nil, time.Second)
	require.NoError(t, err)

	start := time.Now()
	_, err = c.Do(put(t, apiURL+"/w", "{}"))
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, err, ErrToken)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Equal(t, connectors.Transient, Classify(err))
}

// When the token refresh after a 401 fails, the caller gets that failure.
func TestOAuth2RefreshFailureAfter401(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n > 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		_, _ = io.WriteString(w, `{"access_token":"tok-1","expires_in":3600}`)
	}))
	t.Cleanup(tokenSrv.Close)
	a := &api{}
	apiURL := startAPI(t, a)
	c := newClient(t, oauth2Config(tokenSrv.URL))

	do(t, c, put(t, apiURL+"/w", "{}"))
	a.revoke("tok-1")
	_, err := c.Do(put(t, apiURL+"/w", "{}"))
	require.ErrorIs(t, err, ErrToken)
	require.Equal(t, connectors.Permanent, Classify(err))
	require.Len(t, a.requests(), 2)
}

// The token request goes over the same mutual TLS as the API: the token
// endpoint sees the client certificate and is trusted through tls.ca.
func TestOAuth2OverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "test CA")
	tokens := &tokenEndpoint{}
	a := &api{}
	var mu sync.Mutex
	var peers []string
	mux := http.NewServeMux()
	mux.Handle("/oauth/token", tokens)
	mux.Handle("/", a)
	srv := mtlsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		peers = append(peers, r.URL.Path+" "+r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	client := ca.issue(t, "extsync-client", false)
	tlsCfg := &TLS{
		CA:   writeFile(t, "ca.pem", ca.pem),
		Cert: writeFile(t, "client.pem", client.certPEM),
		Key:  writeFile(t, "client-key.pem", client.keyPEM),
	}
	cfg := oauth2Config(srv.URL + "/oauth/token")
	cfg.TLS = tlsCfg
	c := newClient(t, cfg)

	require.Equal(t, http.StatusOK, do(t, c, put(t, srv.URL+"/w/1", "{}")).StatusCode)
	require.Equal(t, http.StatusOK, do(t, c, put(t, srv.URL+"/w/2", "{}")).StatusCode)
	require.Equal(t, 1, tokens.calls())
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-1"}, a.authorizations())
	mu.Lock()
	require.Equal(t, []string{"/oauth/token extsync-client", "/w/1 extsync-client", "/w/2 extsync-client"}, peers)
	mu.Unlock()

	t.Run("token endpoint refuses a client without a certificate", func(t *testing.T) {
		cfg := oauth2Config(srv.URL + "/oauth/token")
		cfg.TLS = &TLS{CA: tlsCfg.CA}
		c := newClient(t, cfg)
		_, err := c.Do(put(t, srv.URL+"/w/3", "{}"))
		require.ErrorIs(t, err, ErrToken)
		require.Equal(t, connectors.Transient, Classify(err))
		require.NotContains(t, err.Error(), "SECRET")
	})

	t.Run("token endpoint not trusted without the CA", func(t *testing.T) {
		cfg := oauth2Config(srv.URL + "/oauth/token")
		cfg.TLS = &TLS{Cert: tlsCfg.Cert, Key: tlsCfg.Key}
		c := newClient(t, cfg)
		_, err := c.Do(put(t, srv.URL+"/w/4", "{}"))
		require.ErrorIs(t, err, ErrToken)
		var uae x509.UnknownAuthorityError
		require.ErrorAs(t, err, &uae)
		require.Equal(t, connectors.Transient, Classify(err))
	})
	require.Equal(t, 1, tokens.calls())
}

func TestTokenErrorClass(t *testing.T) {
	tests := []struct {
		err  TokenError
		want connectors.Class
	}{
		{TokenError{Err: errors.New("dial tcp: connection refused")}, connectors.Transient},
		{TokenError{Status: 500}, connectors.Transient},
		{TokenError{Status: 502}, connectors.Transient},
		{TokenError{Status: 408}, connectors.Transient},
		{TokenError{Status: 425}, connectors.Transient},
		{TokenError{Status: 429}, connectors.Transient},
		{TokenError{Status: 200, Err: errors.New("oauth2: cannot parse json")}, connectors.Transient},
		{TokenError{Status: 400, Code: "temporarily_unavailable"}, connectors.Transient},
		{TokenError{Status: 503, Code: "server_error"}, connectors.Transient},
		{TokenError{Status: 400, Code: "invalid_client"}, connectors.Permanent},
		{TokenError{Status: 401, Code: "invalid_client"}, connectors.Permanent},
		{TokenError{Status: 401}, connectors.Permanent},
		{TokenError{Status: 403}, connectors.Permanent},
		{TokenError{Status: 404}, connectors.Permanent},
		{TokenError{Status: 302}, connectors.Permanent},
		{TokenError{Status: 200, Code: "invalid_scope"}, connectors.Permanent},
		{TokenError{Status: 500, Code: "unauthorized_client"}, connectors.Permanent},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Class(), "%+v", tt.err)
	}
	// Other errors are classified as connectors.Classify does.
	require.Equal(t, connectors.Permanent, Classify(connectors.PermanentError(400, errors.New("x"))))
	require.Equal(t, connectors.Transient, Classify(errors.New("x")))
	require.Equal(t, connectors.Class(0), Classify(nil))
}

// A token endpoint that redirects is not followed: the client credentials
// would go along.
func TestOAuth2TokenEndpointRedirectIsNotFollowed(t *testing.T) {
	tokens := &tokenEndpoint{}
	target := startTokenEndpoint(t, tokens)
	redirect := httptest.NewServer(http.RedirectHandler(target, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	c := newClient(t, oauth2Config(redirect.URL+"/token"))
	_, err := c.Do(put(t, startAPI(t, &api{})+"/w", "{}"))
	require.ErrorIs(t, err, ErrToken)
	require.Equal(t, connectors.Permanent, Classify(err))
	require.Zero(t, tokens.calls())
}
