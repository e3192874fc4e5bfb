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

const clinicDoc = `connectors:
  - name: clinic
    kind: http
    subjects: [hms.scheduling.created]
    http: {url: "https://clinic.example/api/{id}", headers: {Authorization: "Bearer ${CLINIC_TOKEN_UNSET}"}}
`

// An admin applies and edits a connector from the browser, validated as
// serve validates its file; the earlier revision stays listed; a viewer
// sees the definitions and cannot change them.
func TestConnectorsApplyEditHistoryAndViewer(t *testing.T) {
	f := newFixture(t, "adm-secret", "view-secret")
	adm := f.browser(t)
	adm.login("adm-secret")
	_, body := adm.get("/connectors")
	require.Contains(t, body, "The connector store is empty")
	require.Contains(t, body, `<textarea id="doc-new"`)

	resp, body := adm.post("/connectors/apply", url.Values{"doc": {clinicDoc}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "clinic: stored as revision 1")
	require.Contains(t, body, "CLINIC_TOKEN_UNSET", "an unset variable is reported, not refused")

	_, body = adm.get("/connectors")
	require.Contains(t, body, `<textarea id="doc-clinic"`)
	require.Contains(t, body, "${CLINIC_TOKEN_UNSET}", "shown as written")
	edited := strings.Replace(clinicDoc, "hms.scheduling.created", "hms.scheduling.updated", 1)
	resp, body = adm.post("/connectors/apply", url.Values{"doc": {edited}, "name": {"clinic"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "clinic: stored as revision 2")
	resp, body = adm.post("/connectors/apply", url.Values{"doc": {edited}, "name": {"clinic"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "unchanged (revision 2)")
	_, body = adm.get("/connectors")
	require.Contains(t, body, "Earlier revisions (1)")
	require.Contains(t, body, "hms.scheduling.created", "revision 1 is listed")

	resp, body = adm.post("/connectors/apply", url.Values{"doc": {strings.Replace(clinicDoc, "kind: http", "kind: telex", 1)},
		"csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "document:")
	require.Contains(t, body, "Nothing was stored")
	resp, body = adm.post("/connectors/apply", url.Values{"doc": {edited}, "name": {"court"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, `named &#34;court&#34;`)

	viewer := f.browser(t)
	viewer.login("view-secret")
	_, body = viewer.get("/connectors")
	require.Contains(t, body, "hms.scheduling.updated")
	require.NotContains(t, body, "<textarea")
	resp, _ = viewer.post("/connectors/apply", url.Values{"doc": {clinicDoc}, "csrf": {viewer.csrf}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var who []string
	require.NoError(t, synclog.Query(ctx, f.js, synclog.Filter{Connector: "clinic", Status: synclog.OutcomeAdmin},
		func(r synclog.Record) error { who = append(who, r.Actor+" "+r.Action); return nil }))
	require.Equal(t, []string{"console:admin@127.0.0.1 connectors apply", "console:admin@127.0.0.1 connectors apply"}, who)
}

// An admin removes a connector after a confirmation page that names it
// and says what happens; the removal goes through connstore.Delete and is
// recorded with the console's actor. A viewer has no button and gets 403;
// a POST without the CSRF token is refused.
func TestConnectorRemoveConfirmsFirst(t *testing.T) {
	f := newFixture(t, "adm-secret", "view-secret")
	adm := f.browser(t)
	adm.login("adm-secret")
	adm.get("/connectors")
	resp, body := adm.post("/connectors/apply", url.Values{"doc": {clinicDoc}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	_, body = adm.get("/connectors")
	require.Contains(t, body, "Remove clinic…")

	viewer := f.browser(t)
	viewer.login("view-secret")
	_, body = viewer.get("/connectors")
	require.NotContains(t, body, "/connectors/remove", "a viewer has no remove button")
	resp, _ = viewer.post("/connectors/remove", url.Values{"name": {"clinic"}, "confirm": {"yes"}, "csrf": {viewer.csrf}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, body = adm.post("/connectors/remove", url.Values{"name": {"clinic"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Remove <strong>clinic</strong> (revision 1")
	require.Contains(t, body, "drains its runner")
	require.Contains(t, body, "durable consumer is kept")
	require.Contains(t, body, `name="confirm" value="yes"`)
	_, body = adm.get("/connectors")
	require.Contains(t, body, `<textarea id="doc-clinic"`, "the first POST only asks")

	resp, _ = adm.post("/connectors/remove", url.Values{"name": {"clinic"}, "confirm": {"yes"}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token")
	resp, _ = adm.post("/connectors/remove", url.Values{"name": {"clinic"}, "confirm": {"yes"}, "csrf": {adm.csrf}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "cross-site")
	_, body = adm.get("/connectors")
	require.Contains(t, body, `<textarea id="doc-clinic"`, "still stored")

	resp, body = adm.post("/connectors/remove", url.Values{"name": {"clinic"}, "confirm": {"yes"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "clinic: removed from the connector store")
	_, body = adm.get("/connectors")
	require.Contains(t, body, "The connector store is empty")
	resp, _ = adm.post("/connectors/remove", url.Values{"name": {"clinic"}, "confirm": {"yes"}, "csrf": {adm.csrf}}, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var who []string
	require.NoError(t, synclog.Query(ctx, f.js, synclog.Filter{Connector: "clinic", Status: synclog.OutcomeAdmin},
		func(r synclog.Record) error { who = append(who, r.Actor+" "+r.Action); return nil }))
	require.Equal(t, []string{"console:admin@127.0.0.1 connectors apply", "console:admin@127.0.0.1 connectors rm"}, who)
}
