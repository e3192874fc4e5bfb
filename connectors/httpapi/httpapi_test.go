package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// newConnector builds a connector the way the pipeline does, from a Config
// literal standing in for the decoded `http:` block.
func newConnector(t *testing.T, cfg Config) connectors.Connector {
	t.Helper()
	c, err := build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func build(cfg Config) (connectors.Connector, error) {
	return Factory{}.New(connectors.Spec{
		Name:        "c",
		Concurrency: 4,
		Decode: func(v any) error {
			*v.(*Config) = cfg
			return nil
		},
	})
}

// seen is one request as the server received it.
type seen struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       []byte
}

// sink is an httptest server that records requests and answers with a
// fixed response.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
	count    atomic.Int32
}

func newSink(t *testing.T, status int, header http.Header, body string) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, seen{r.Method, r.RequestURI, r.Header.Clone(), b})
		s.mu.Unlock()
		s.count.Add(1)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) only(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.requests, 1)
	return s.requests[0]
}

func delivery(data map[string]any) *connectors.Delivery {
	return &connectors.Delivery{
		Event:   &event.Event{ID: "evt-1", Data: data},
		Body:    map[string]any{"case_reference": "H-77", "judge": map[string]any{"name": "Okafor"}, "tags": []any{"a", 1.0}},
		Attempt: 1,
	}
}

func TestDeliverSendsTheRequest(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{
		URL:     s.URL + "/api/v1/workflows/{id}",
		Headers: map[string]string{"X-Tenant": "hms", "x-lower": "v"},
	})
	d := delivery(map[string]any{"id": "a/b c"})
	require.NoError(t, c.Deliver(connectortest.Traced(traceparent), d))

	r := s.only(t)
	require.Equal(t, http.MethodPut, r.Method)
	require.Equal(t, "/api/v1/workflows/a%2Fb%20c", r.RequestURI)
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Equal(t, d.Body, body)
	require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "hms", r.Header.Get("X-Tenant"))
	require.Equal(t, "v", r.Header.Get("X-Lower"))
	require.Equal(t, traceparent, r.Header.Get("Traceparent"))
	require.Equal(t, "extsync", r.Header.Get("User-Agent"))
	require.Empty(t, r.Header.Get("Authorization"))
}

func TestDeliverPlaceholders(t *testing.T) {
	tests := []struct {
		name, url string
		data      map[string]any
		wantURI   string
	}{
		{"nested path", "/w/{workflow.ref}", map[string]any{"workflow": map[string]any{"ref": "wf-9"}}, "/w/wf-9"},
		{"number", "/w/{id}", map[string]any{"id": json.Number("42")}, "/w/42"},
		{"two placeholders", "/c/{court}/w/{id}", map[string]any{"court": "n?1", "id": "x#y"}, "/c/n%3F1/w/x%23y"},
		{"array index", "/w/{items.0.id}", map[string]any{"items": []any{map[string]any{"id": "i-1"}}}, "/w/i-1"},
		{"no placeholder", "/w", map[string]any{}, "/w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, http.StatusNoContent, nil, "")
			c := newConnector(t, Config{URL: s.URL + tt.url})
			require.NoError(t, c.Deliver(context.Background(), delivery(tt.data)))
			require.Equal(t, tt.wantURI, s.only(t).RequestURI)
		})
	}
}

func TestDeliverMethodsAndAuth(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		auth       *Auth
		headers    map[string]string
		wantMethod string
		wantHeader string
		wantValue  string
	}{
		{
			name: "bearer", method: "post", auth: &Auth{Bearer: "tok-123"},
			wantMethod: http.MethodPost, wantHeader: "Authorization", wantValue: "Bearer tok-123",
		},
		{
			name: "basic", method: "PATCH", auth: &Auth{Basic: &BasicAuth{User: "clerk", Password: "pa:ss"}},
			wantMethod: http.MethodPatch, wantHeader: "Authorization",
			wantValue: "Basic " + base64.StdEncoding.EncodeToString([]byte("clerk:pa:ss")),
		},
		{
			name: "api key", method: "delete", auth: &Auth{APIKey: &APIKey{Header: "X-Api-Key", Value: "k-1"}},
			wantMethod: http.MethodDelete, wantHeader: "X-Api-Key", wantValue: "k-1",
		},
		{
			name: "auth wins over a configured header", auth: &Auth{Bearer: "tok-1"},
			headers:    map[string]string{"Authorization": "Bearer stale"},
			wantMethod: http.MethodPut, wantHeader: "Authorization", wantValue: "Bearer tok-1",
		},
		{
			name: "header from the connectors file", headers: map[string]string{"Authorization": "Bearer from-env"},
			wantMethod: http.MethodPut, wantHeader: "Authorization", wantValue: "Bearer from-env",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, http.StatusOK, nil, "")
			c := newConnector(t, Config{Method: tt.method, URL: s.URL + "/workflows/{id}", Auth: tt.auth, Headers: tt.headers})
			require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"})))
			r := s.only(t)
			require.Equal(t, tt.wantMethod, r.Method)
			require.Equal(t, []string{tt.wantValue}, r.Header.Values(tt.wantHeader))
		})
	}
}

func TestDeliverIdempotencyKeyCannotBeOverridden(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{URL: s.URL + "/w", Headers: map[string]string{"Idempotency-Key": "fixed"}})
	require.NoError(t, c.Deliver(context.Background(), delivery(nil)))
	require.Equal(t, []string{"evt-1"}, s.only(t).Header.Values("Idempotency-Key"))
}

// secretURL is a query string that must never reach an error message.
const secretURL = "/workflows/{id}?api_key=SECRET"

func TestDeliverStatusTable(t *testing.T) {
	tests := []struct {
		status     int
		header     http.Header
		body       string
		class      connectors.Class // 0: success
		retryAfter time.Duration
	}{
		{status: 200},
		{status: 201},
		{status: 202},
		{status: 204},
		{status: 408, class: connectors.Transient},
		{status: 425, class: connectors.Transient},
		{status: 429, header: http.Header{"Retry-After": {"2"}}, class: connectors.Transient, retryAfter: 2 * time.Second},
		{status: 500, body: "database down", class: connectors.Transient},
		{status: 502, class: connectors.Transient},
		{status: 503, header: http.Header{"Retry-After": {" 120 "}}, class: connectors.Transient, retryAfter: 2 * time.Minute},
		{status: 503, header: http.Header{"Retry-After": {"soon"}}, class: connectors.Transient},
		{status: 503, header: http.Header{"Retry-After": {"-5"}}, class: connectors.Transient},
		{status: 409, body: `{"error":"overlapping assignment"}`, class: connectors.Conflict},
		{status: 412, class: connectors.Conflict},
		{status: 400, body: `{"error":"start_time is required"}`, class: connectors.Permanent},
		{status: 401, class: connectors.Permanent},
		{status: 404, body: "no such workflow", class: connectors.Permanent},
		{status: 422, body: "courtroom unknown", class: connectors.Permanent},
	}
	sentinel := map[connectors.Class]error{
		connectors.Transient: connectors.ErrTransient,
		connectors.Conflict:  connectors.ErrConflict,
		connectors.Permanent: connectors.ErrPermanent,
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+tt.header.Get("Retry-After"), func(t *testing.T) {
			s := newSink(t, tt.status, tt.header, tt.body)
			c := newConnector(t, Config{URL: s.URL + secretURL})
			err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
			require.EqualValues(t, 1, s.count.Load())
			if tt.class == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, sentinel[tt.class])
			for cl, other := range sentinel {
				if cl != tt.class {
					require.NotErrorIs(t, err, other)
				}
			}
			var de *connectors.DeliveryError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tt.status, de.Status)
			require.Equal(t, tt.retryAfter, de.RetryAfter)
			require.Contains(t, err.Error(), strconv.Itoa(tt.status))
			require.Contains(t, err.Error(), "/workflows/wf-1")
			if tt.body != "" {
				require.Contains(t, err.Error(), tt.body)
			}
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func TestDeliverRetryAfterHTTPDate(t *testing.T) {
	at := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	s := newSink(t, http.StatusServiceUnavailable, http.Header{"Retry-After": {at}}, "")
	c := newConnector(t, Config{URL: s.URL + "/w"})
	err := c.Deliver(context.Background(), delivery(nil))
	require.ErrorIs(t, err, connectors.ErrTransient)
	var de *connectors.DeliveryError
	require.ErrorAs(t, err, &de)
	require.InDelta(t, float64(time.Hour), float64(de.RetryAfter), float64(3*time.Second))

	// A date in the past asks for no wait.
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	past := http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}
	require.Zero(t, connectors.RetryAfter(past, now))
	future := http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}
	require.Equal(t, 90*time.Second, connectors.RetryAfter(future, now))
}

func TestDeliverKeepsOnlyASnippetOfTheErrorBody(t *testing.T) {
	body := strings.Repeat("x", 2000)
	s := newSink(t, http.StatusBadRequest, nil, body)
	c := newConnector(t, Config{URL: s.URL + "/w"})
	err := c.Deliver(context.Background(), delivery(nil))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), strings.Repeat("x", maxErrorBody))
	require.NotContains(t, err.Error(), strings.Repeat("x", maxErrorBody+1))
}

func TestDeliverMissingPlaceholderSendsNothing(t *testing.T) {
	tests := []struct {
		name string
		data map[string]any
		want string
	}{
		{"absent", map[string]any{"name": "x"}, `the event has no field "id"`},
		{"empty", map[string]any{"id": ""}, `the event has no field "id"`},
		{"null", map[string]any{"id": nil}, `the event has no field "id"`},
		{"object", map[string]any{"id": map[string]any{"a": 1}}, `field "id"`},
		{"no data", nil, `the event has no field "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, http.StatusOK, nil, "")
			c := newConnector(t, Config{URL: s.URL + secretURL})
			err := c.Deliver(context.Background(), delivery(tt.data))
			require.ErrorIs(t, err, connectors.ErrPermanent)
			require.Contains(t, err.Error(), "{id}")
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "SECRET")
			require.Zero(t, s.count.Load(), "a request was sent")
		})
	}
}

func TestDeliverConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	c := newConnector(t, Config{URL: url + secretURL, Auth: &Auth{Bearer: "SECRET-TOKEN"}})
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "PUT "+url+"/workflows/wf-1")
	require.NotContains(t, err.Error(), "SECRET")
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	c := newConnector(t, Config{URL: srv.URL + secretURL, Timeout: config.Duration(100 * time.Millisecond)})
	require.Equal(t, 100*time.Millisecond, c.Timeout())

	start := time.Now()
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.Less(t, time.Since(start), 5*time.Second)
	require.EqualValues(t, 1, arrived.Load())
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "timed out")
	require.NotContains(t, err.Error(), "SECRET")
}

func TestDeliverContextCancelled(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{URL: s.URL + secretURL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Deliver(ctx, delivery(map[string]any{"id": "wf-1"}))
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.ErrorIs(t, err, context.Canceled)
	require.NotContains(t, err.Error(), "SECRET")
}

// A redirect must not turn the PUT into a GET whose 200 counts as
// delivered: the record would never reach the external system.
func TestDeliverDoesNotFollowRedirectsAsSuccess(t *testing.T) {
	var puts, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/moved":
			if r.Method == http.MethodGet {
				gets.Add(1)
			}
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPut:
			puts.Add(1)
			http.Redirect(w, r, "/moved", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)

	c := newConnector(t, Config{URL: srv.URL + "/workflows/{id}"})
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.EqualValues(t, 1, puts.Load())
	require.Error(t, err, "302 then GET %d time(s) was reported as delivered", gets.Load())
}

// Credentials are for the configured host only: a redirect to another
// host must not carry them (net/http strips Authorization itself, so
// whatever adds credentials must not put them back).
func TestDeliverDoesNotSendCredentialsToAnotherHost(t *testing.T) {
	tests := []struct {
		name    string
		auth    *Auth
		headers map[string]string
		header  string
	}{
		{"bearer", &Auth{Bearer: "SECRET"}, nil, "Authorization"},
		{"basic", &Auth{Basic: &BasicAuth{User: "u", Password: "SECRET"}}, nil, "Authorization"},
		{"api key", &Auth{APIKey: &APIKey{Header: "X-Api-Key", Value: "SECRET"}}, nil, "X-Api-Key"},
		{"key in configured headers", nil, map[string]string{"X-Api-Key": "SECRET"}, "X-Api-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := newSink(t, http.StatusOK, nil, "")
			// Same port space, different host name: 127.0.0.1 -> localhost.
			elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/collect"
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(origin.Close)

			c := newConnector(t, Config{URL: origin.URL + "/workflows/{id}", Auth: tt.auth, Headers: tt.headers})
			_ = c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
			other.mu.Lock()
			defer other.mu.Unlock()
			for _, r := range other.requests {
				require.Empty(t, r.Header.Get(tt.header), "credentials sent to %s", elsewhere)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := build(Config{URL: "https://court.example/workflows/{id}"})
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.Timeout())
	conn := c.(*Connector)
	require.Equal(t, http.MethodPut, conn.cfg.Method)
	require.NoError(t, c.Close())
}

func TestNewPropagatesDecodeErrors(t *testing.T) {
	want := errors.New("c.yaml:7:7: connectors[0].http.bogus: unknown field")
	_, err := Factory{}.New(connectors.Spec{Name: "c", Decode: func(any) error { return want }})
	require.ErrorIs(t, err, want)
}

func TestNewValidatesConfig(t *testing.T) {
	const ok = "https://court.example/workflows/{id}"
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad method", Config{Method: "GET", URL: ok}, `http.method "GET"`},
		{"unknown method", Config{Method: "FETCH", URL: ok}, `http.method "FETCH"`},
		{"missing url", Config{}, "http.url is required"},
		{"relative url", Config{URL: "/workflows/{id}"}, "absolute http:// or https:// URL"},
		{"no host", Config{URL: "https:///workflows"}, "absolute http:// or https:// URL"},
		{"other scheme", Config{URL: "ftp://court.example/{id}"}, "absolute http:// or https:// URL"},
		{"unclosed placeholder", Config{URL: "https://court.example/{id"}, "no closing }"},
		{"empty placeholder", Config{URL: "https://court.example/{}"}, "not a dotted field path"},
		{"placeholder with a slash", Config{URL: "https://court.example/{a/b}"}, "not a dotted field path"},
		{"bad header name", Config{URL: ok, Headers: map[string]string{"X Tenant": "v"}}, `"X Tenant" is not a valid header name`},
		{"two auth kinds", Config{URL: ok, Auth: &Auth{Bearer: "t", Basic: &BasicAuth{User: "u"}}}, "http.auth: set only one of bearer, basic, api_key"},
		{"three auth kinds", Config{URL: ok, Auth: &Auth{Bearer: "t", Basic: &BasicAuth{}, APIKey: &APIKey{Header: "K"}}}, "http.auth: set only one of"},
		{"api key without header", Config{URL: ok, Auth: &Auth{APIKey: &APIKey{Value: "k"}}}, "api_key.header is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := build(tt.cfg)
			require.Nil(t, c)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// Headers that net/http refuses to send fail every delivery as transient,
// so they belong in the start-up validation.
func TestNewRejectsHeadersNetHTTPCannotSend(t *testing.T) {
	const ok = "https://court.example/workflows/{id}"
	tests := []struct {
		name string
		cfg  Config
	}{
		{"api key header name with a space", Config{URL: ok, Auth: &Auth{APIKey: &APIKey{Header: "X Api Key", Value: "k"}}}},
		{"header value with a newline", Config{URL: ok, Headers: map[string]string{"Authorization": "Bearer s3cr3t\n"}}},
		{"bearer with a newline", Config{URL: ok, Auth: &Auth{Bearer: "s3cr3t\r\nX-Injected: 1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(tt.cfg)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "s3cr3t")
		})
	}
}

// An oauth2 block is accepted by validation, so it must be used: either
// the request carries a token from token_url, or New refuses the block.
func TestOAuth2IsUsedOrRefused(t *testing.T) {
	var tokenCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokenCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"access_token":"tok-oauth","token_type":"Bearer","expires_in":3600}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-oauth" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	c, err := build(Config{URL: srv.URL + "/w", Auth: &Auth{OAuth2: &auth.OAuth2{
		TokenURL: srv.URL + "/token", ClientID: "id", ClientSecret: "SECRET",
	}}})
	if err != nil {
		require.NotContains(t, err.Error(), "SECRET")
		return
	}
	t.Cleanup(func() { _ = c.Close() })
	err = c.Deliver(context.Background(), delivery(nil))
	require.NoError(t, err, "token endpoint called %d time(s)", tokenCalls.Load())
}

func TestNewErrorsNeverEchoSecrets(t *testing.T) {
	_, err := build(Config{
		Method:  "GET",
		URL:     "https://court.example/w/{id}",
		Headers: map[string]string{"Authorization": "Bearer SECRET"},
		Auth:    &Auth{Bearer: "SECRET"},
	})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "SECRET")
	_, err = build(Config{URL: "https://court.example/w/{id}", Auth: &Auth{Bearer: "SECRET", Basic: &BasicAuth{Password: "SECRET"}}})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "SECRET")
}
