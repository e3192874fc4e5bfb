package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
)

// These tests assert what the external system receives when event values
// carry path, query or header syntax: the request line and headers must be
// the configured ones, with the value confined to its placeholder.

// arrival is one request as the external system parsed it.
type arrival struct {
	EscapedPath, Path, RawQuery string
	Query                       url.Values
	Header                      http.Header
}

// recorder is an external system that records every request it gets.
type recorder struct {
	*httptest.Server
	mu  sync.Mutex
	got []arrival
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.got = append(rec.got, arrival{r.URL.EscapedPath(), r.URL.Path, r.URL.RawQuery, r.URL.Query(), r.Header.Clone()})
		rec.mu.Unlock()
		if r.Method == http.MethodGet { // Fetch reads the record
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) arrivals() []arrival {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]arrival(nil), rec.got...)
}

// hostile are values an event may carry, meant to escape their placeholder.
var hostile = []string{
	"../../admin", "..%2F..%2Fadmin", "%2e%2e/admin", "%2e%2e", "..;/admin", `..\..\admin`,
	"a/b", "a?admin=1", "a#frag", "a&admin=1", "a=b", "a+b c", "a;b,c",
	"a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\x00b", "ünïcödé/☃", "\u202e..", "//evil.example/x",
	"http://evil.example/", "@evil.example", "a:b@evil.example",
}

func TestPathValueStaysInItsSegment(t *testing.T) {
	rec := newRecorder(t)
	c := newConnector(t, Config{URL: rec.URL + "/api/v1/workflows/{id}/status"})
	for _, v := range hostile {
		require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"id": v})), "value %q", v)
	}
	got := rec.arrivals()
	require.Len(t, got, len(hostile))
	for i, r := range got {
		v := hostile[i]
		seg, ok := strings.CutPrefix(r.EscapedPath, "/api/v1/workflows/")
		require.True(t, ok, "value %q: path %q left the prefix", v, r.EscapedPath)
		seg, ok = strings.CutSuffix(seg, "/status")
		require.True(t, ok, "value %q: path %q lost its tail", v, r.EscapedPath)
		require.NotContains(t, seg, "/", "value %q added a path segment: %q", v, r.EscapedPath)
		unescaped, err := url.PathUnescape(seg)
		require.NoError(t, err)
		require.Equal(t, v, unescaped, "value changed on the way")
		require.Equal(t, "/api/v1/workflows/"+v+"/status", r.Path)
		require.Empty(t, r.RawQuery, "value %q added a query", v)
		require.Empty(t, r.Header.Values("X-Injected"), "value %q added a header", v)
	}
}

// A value that is a dot segment on its own, or with the literal text
// around its placeholder, would move the request up the path once the
// external system normalises it: nothing may be sent.
func TestDotSegmentValuesSendNothing(t *testing.T) {
	rec := newRecorder(t)
	tests := []struct{ url, value string }{
		{"/w/{id}", "."},
		{"/w/{id}", ".."},
		{"/w/{id}/x", ".."},
		{"/w/.{id}", "."},
		{"/w/{id}.", "."},
		{"/w/%2e{id}", "."},
		{"/w/{a}{id}", "."},
	}
	for _, tt := range tests {
		c := newConnector(t, Config{URL: rec.URL + tt.url})
		data := map[string]any{"id": tt.value, "a": "."}
		err := c.Deliver(context.Background(), delivery(data))
		require.ErrorIs(t, err, connectors.ErrPermanent, "%s with %q", tt.url, tt.value)
		require.Contains(t, err.Error(), "would change the path")
	}
	require.Empty(t, rec.arrivals())
}

func TestQueryValueStaysInItsParameter(t *testing.T) {
	rec := newRecorder(t)
	c := newConnector(t, Config{URL: rec.URL + "/w?ref={id}&mode=full"})
	for _, v := range hostile {
		require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"id": v})), "value %q", v)
	}
	got := rec.arrivals()
	require.Len(t, got, len(hostile))
	for i, r := range got {
		v := hostile[i]
		require.Equal(t, "/w", r.EscapedPath, "value %q changed the path", v)
		require.Equal(t, url.Values{"ref": {v}, "mode": {"full"}}, r.Query, "value %q, query %q", v, r.RawQuery)
		require.Empty(t, r.Header.Values("X-Injected"), "value %q added a header", v)
	}
}

// Fetch (the conflict rules' GET) expands the same template.
func TestFetchValueStaysInItsSegment(t *testing.T) {
	rec := newRecorder(t)
	c := newConnector(t, Config{URL: rec.URL + "/w/{id}"}).(*Connector)
	_, _, err := c.Fetch(context.Background(), delivery(map[string]any{"id": "../../admin?x=1"}))
	require.NoError(t, err)
	got := rec.arrivals()
	require.Len(t, got, 1)
	require.Equal(t, "/w/..%2F..%2Fadmin%3Fx=1", got[0].EscapedPath)
	require.Empty(t, got[0].RawQuery)
}

// The event id is the Idempotency-Key header. One that a header cannot
// carry must fail as permanent, not transient: no retry can change it.
func TestEventIDCannotAddHeaders(t *testing.T) {
	rec := newRecorder(t)
	c := newConnector(t, Config{URL: rec.URL + "/w/{id}"})
	for _, id := range []string{"a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rX-Injected: 1", "a\x00b", "a\x7fb"} {
		d := delivery(map[string]any{"id": "wf-1"})
		d.Event.ID = id
		err := c.Deliver(context.Background(), d)
		require.ErrorIs(t, err, connectors.ErrPermanent, "id %q", id)
		require.Contains(t, err.Error(), "Idempotency-Key")
	}
	require.Empty(t, rec.arrivals(), "a request was sent")

	// Unicode is not a control character: it is sent as is.
	d := delivery(map[string]any{"id": "wf-1"})
	d.Event = &event.Event{ID: "évt-☃-1", Data: d.Event.Data}
	require.NoError(t, c.Deliver(context.Background(), d))
	got := rec.arrivals()
	require.Len(t, got, 1)
	require.Equal(t, "évt-☃-1", got[0].Header.Get("Idempotency-Key"))
	require.Empty(t, got[0].Header.Values("X-Injected"))
}

// Only the path and query take event values: a placeholder in the host
// would let an event choose where its data goes. A URL whose literal text
// a value could complete (a host-less authority, a bare %) is refused too.
func TestNewRefusesURLTemplatesAValueCouldEscape(t *testing.T) {
	for u, want := range map[string]string{
		"https://{tenant}.court.example/w": "only the path and query",
		"https://{user}@court.example/w":   "only the path and query",
		"https://court.example{id}":        "only the path and query",
		"https://court.example:{port}/w":   "absolute http:// or https:// URL", // not a port
		"https://court.example:8443@:/w":   "absolute http:// or https:// URL", // no host name (FuzzTemplate)
		"https://court.example/w?q=%{id}":  "not an escape",                    // value "2F" would finish it
	} {
		_, err := build(Config{URL: u})
		require.ErrorContains(t, err, want, u)
	}
	for _, u := range []string{"https://court.example/{id}", "https://court.example?id={id}", "https://court.example/w#{id}"} {
		_, err := build(Config{URL: u})
		require.NoError(t, err, u)
	}
}

// net/url sends a path that is not validly percent-encoded re-escaped from
// its decoded form, where the value's %2F is a slash again: "../admin"
// would climb out of /gerichte/straße/. Such a URL is refused at start;
// written encoded, the value stays in its segment.
func TestNewRefusesPathsNotPercentEncoded(t *testing.T) {
	rec := newRecorder(t)
	for _, p := range []string{"/gerichte/straße/{id}", "/my records/{id}", "/w|x/{id}"} {
		_, err := build(Config{URL: rec.URL + p})
		require.ErrorContains(t, err, "must be percent-encoded", p)
	}
	c := newConnector(t, Config{URL: rec.URL + "/gerichte/stra%C3%9Fe/{id}"})
	require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"id": "../admin"})))
	got := rec.arrivals()
	require.Len(t, got, 1)
	require.Equal(t, "/gerichte/stra%C3%9Fe/..%2Fadmin", got[0].EscapedPath)
}
