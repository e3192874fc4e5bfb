package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/console"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// fixture is an admin server with the API and the console over a real
// embedded NATS.
type fixture struct {
	base string
	js   jetstream.JetStream
	con  *console.Console
}

func statuses(context.Context) []pipeline.ConnectorStatus {
	return []pipeline.ConnectorStatus{
		{Name: "clinic", Kind: "http", Subjects: []string{"hms.scheduling.created"}, Running: true, Breaker: "half-open", Delivered: 7,
			Throttle: &pipeline.ThrottleStatus{Rate: 40, Share: 20, Replicas: 2}, RegistryError: "revision 3: ${CLINIC_KEY} is not set",
			Batch: &pipeline.BatchStatus{NextRun: time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC), Waiting: 12}},
		{Name: "court", Kind: "http", Subjects: []string{"hms.workflow.updated"}, Running: true, Breaker: "open",
			Degraded: true, FailingSince: time.Now().Add(-time.Minute), Lag: 3, Failed: 4, LastError: "HTTP 503 from court",
			LastErrorAt: time.Now(), DeadLetters: 2},
	}
}

func newFixture(t testing.TB, adminToken, viewerToken string) *fixture {
	t.Helper()
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: adminToken, ViewerToken: viewerToken,
		Ready: func(context.Context) error { return nil }})
	require.NoError(t, err)
	s.MountOps(admin.Ops{JS: js, Connectors: func(context.Context) []admin.ConnectorView { return nil }})
	con := console.Mount(s, console.Options{JS: js, Status: statuses, TraceURL: "http://jaeger.test/trace/{trace_id}"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done); con.Close() })
	return &fixture{base: "http://" + s.Addr(), js: js, con: con}
}

// park stores n dead letters of connector, reasons alternating between
// "HTTP 400 bad field" and "HTTP 422 unknown court".
func (f *fixture) park(t testing.TB, connector string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := deadletter.NewParker(f.js)
	for i := range n {
		reason := "HTTP 400 bad field"
		if i%2 == 1 {
			reason = "HTTP 422 unknown court"
		}
		require.NoError(t, p.Park(ctx, &deadletter.Letter{
			Connector: connector, Subject: "hms.workflow.updated", Stream: "HMS_EVENTS", StreamSeq: uint64(i + 1),
			EventID: fmt.Sprintf("%s-%d", connector, i+1), Attempts: 1, Reason: reason, Status: "permanent",
			HTTPStatus: 400, FirstAttempt: time.Now(), LastAttempt: time.Now(), Body: []byte(`{"id":"wf-1"}`),
			Header: map[string][]string{"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		}))
	}
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	t    testing.TB
	c    *http.Client
	base string
	csrf string
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: f.base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	if m := csrfRe.FindStringSubmatch(string(body)); m != nil {
		b.csrf = m[1]
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.base+path, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post sends a same-origin form, as a browser does (Origin and
// Sec-Fetch-Site set); hdr overrides or adds headers.
func (b *browser) post(path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func (b *browser) login(token string) {
	b.t.Helper()
	resp, body := b.post("/login", url.Values{"token": {token}, "next": {"/"}}, nil)
	require.Equal(b.t, http.StatusSeeOther, resp.StatusCode, body)
	require.Equal(b.t, "/", resp.Header.Get("Location"))
}
