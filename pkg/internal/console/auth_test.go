package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/synclog"
)

// With tokens set, nothing of a connector shows without one: the login
// form instead. A viewer sees everything without a change button, and
// the API refuses the viewer's changes; the admin gets the buttons.
func TestTokensGateTheConsoleAndTheViewerOnlyReads(t *testing.T) {
	f := newFixture(t, "adm-secret", "view-secret")
	f.park(t, "court", 2)

	anon := f.browser(t)
	for _, p := range []string{"/", "/dlq", "/dlq/1", "/timeline?event=e1", "/conflicts", "/connectors"} {
		resp, body := anon.get(p)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/login?next="), p)
		require.NotContains(t, body, "court", p)
	}
	resp, body := anon.get("/login")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<label for="token">Token</label>`)
	require.NotContains(t, body, "court")
	resp, body = anon.post("/login", url.Values{"token": {"wrong"}}, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "not the admin or the viewer token")
	resp, _ = anon.post("/dlq/purge", url.Values{"connector": {"court"}}, nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	viewer := f.browser(t)
	viewer.login("view-secret")
	sess := viewer.c.Jar.Cookies(mustURL(t, f.base))
	require.Len(t, sess, 1)
	_, body = viewer.get("/")
	require.Contains(t, body, `data-connector="court"`)
	require.Contains(t, body, "degraded")
	_, body = viewer.get("/dlq")
	require.Contains(t, body, "court-1")
	require.NotContains(t, body, "Replay…")
	require.NotContains(t, body, "Purge…")
	_, body = viewer.get("/dlq/1")
	require.Contains(t, body, `href="http://jaeger.test/trace/4bf92f3577b34da6a3ce929d0e0e4736"`)
	require.NotContains(t, body, "Replay…")
	resp, _ = viewer.get("/dlq/confirm?action=purge&connector=court")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = viewer.post("/dlq/purge", url.Values{"connector": {"court"}, "csrf": {viewer.csrf}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	code := apiCall(t, "POST", f.base+"/api/v1/dlq/purge?connector=court", "view-secret")
	require.Equal(t, http.StatusForbidden, code, "the API refuses the viewer's change")
	require.Equal(t, http.StatusOK, apiCall(t, "GET", f.base+"/api/v1/dlq", "view-secret"))

	adm := f.browser(t)
	adm.login("adm-secret")
	_, body = adm.get("/dlq")
	require.Contains(t, body, "Replay…")
	require.Contains(t, body, "Purge…")
	require.Contains(t, body, `action="/logout"`)

	resp, _ = adm.post("/logout", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = adm.get("/")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "logged out")
}

// Every POST needs the login's CSRF token and a same-origin request.
func TestCSRFAndCrossSitePostsAreRefused(t *testing.T) {
	f := newFixture(t, "adm-secret", "")
	f.park(t, "court", 3)
	b := f.browser(t)
	b.login("adm-secret")
	resp, body := b.get("/dlq/confirm?action=purge&connector=court")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.NotEmpty(t, b.csrf)
	form := url.Values{"connector": {"court"}}

	resp, body = b.post("/dlq/purge", form, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")
	require.Contains(t, body, "CSRF")
	form.Set("csrf", "forged")
	resp, _ = b.post("/dlq/purge", form, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "wrong CSRF token")
	form.Set("csrf", b.csrf)
	resp, body = b.post("/dlq/purge", form, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "cross-site")
	require.Contains(t, body, "cross-site")
	resp, _ = b.post("/dlq/purge", form, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "foreign Origin")
	resp, _ = b.post("/login", url.Values{"token": {"adm-secret"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "cross-site login")

	other := f.browser(t)
	other.login("adm-secret")
	resp, _ = other.post("/dlq/purge", form, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "a CSRF token is tied to its login")

	resp, body = b.post("/dlq/purge", form, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Purged 3 dead letters.")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var actors []string
	require.NoError(t, synclog.Query(ctx, f.js, synclog.Filter{Status: synclog.OutcomeAdmin}, func(r synclog.Record) error {
		actors = append(actors, r.Actor+" "+r.Action)
		return nil
	}))
	require.Equal(t, []string{"console:admin@127.0.0.1 dlq purge"}, actors)
}

// Without tokens the console answers loopback only, and still wants the
// CSRF token its pages carry.
func TestWithoutTokensLoopbackIsAdminButPostsNeedCSRF(t *testing.T) {
	f := newFixture(t, "", "")
	f.park(t, "court", 1)
	b := f.browser(t)
	resp, body := b.get("/dlq/confirm?action=purge&connector=court")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.NotContains(t, body, `action="/logout"`, "nothing to log out of")
	resp, _ = b.post("/dlq/purge", url.Values{"connector": {"court"}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body = b.post("/dlq/purge", url.Values{"connector": {"court"}, "csrf": {b.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Purged 1 dead letter.")
}

// Without tokens, a page whose host name was rebound to 127.0.0.1 gets
// nothing: the Host must name the loopback.
func TestWithoutTokensAForeignHostIsRefused(t *testing.T) {
	f := newFixture(t, "", "")
	b := f.browser(t)
	for host, want := range map[string]int{"evil.example:8080": http.StatusForbidden, "localhost:8080": http.StatusOK,
		"127.0.0.1": http.StatusOK, "[::1]:8080": http.StatusOK} {
		req, err := http.NewRequest("GET", f.base+"/", nil)
		require.NoError(t, err)
		req.Host = host
		resp, body := b.do(req)
		require.Equal(t, want, resp.StatusCode, host)
		if want != http.StatusOK {
			require.NotContains(t, body, "court")
		}
	}
}

// Every console response carries the security headers, the login form
// and the static files too.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t, "adm-secret", "")
	b := f.browser(t)
	for _, p := range []string{"/", "/login", "/static/console.js", "/static/console.css", "/nope"} {
		resp, _ := b.get(p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		require.Contains(t, csp, "default-src 'self'", p)
		require.Contains(t, csp, "script-src 'self'", p)
		require.Contains(t, csp, "frame-ancestors 'none'", p)
		require.NotContains(t, csp, "unsafe-inline", p)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), p)
		require.Equal(t, "same-origin", h.Get("Referrer-Policy"), p)
	}
	b.login("adm-secret")
	for _, c := range b.c.Jar.Cookies(mustURL(t, f.base)) {
		require.Equal(t, "extsync_login", c.Name)
	}
	resp, body := b.get("/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, body, "<script>", "no inline script")
	require.NotContains(t, body, "style=", "no inline style")
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func apiCall(t *testing.T, method, u, token string) int {
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
