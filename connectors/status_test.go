package connectors_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

// TestKindsReportTheStatusOfASuccess: the http, webhook and soap kinds put
// the system's status code of a successful answer on the delivery, so the
// sync log keeps it.
func TestKindsReportTheStatusOfASuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("SOAPAction") != "" || r.Header.Get("Content-Type") == "text/xml; charset=utf-8" {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>`)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	doc := fmt.Sprintf(`connectors:
  - name: a
    kind: http
    subjects: [hms.x]
    http: {url: "%[1]s/{id}"}
  - name: b
    kind: webhook
    subjects: [hms.x]
    webhook: {url: "%[1]s/hook", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
  - name: c
    kind: soap
    subjects: [hms.x]
    soap: {url: "%[1]s/soap", action: "urn:x", template: "<x>{{.id}}</x>"}
`, srv.URL)
	f, err := config.Parse("c.yaml", []byte(doc), func(string) (string, bool) { return "", false }, nil)
	require.NoError(t, err)
	want := map[string]int{"http": http.StatusCreated, "webhook": http.StatusCreated, "soap": http.StatusAccepted}
	for _, c := range f.Connectors {
		conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: 1, Decode: c.Decode})
		require.NoError(t, err, c.Kind)
		d := &connectors.Delivery{Event: &event.Event{ID: "ev-1", Key: "k-1", Time: time.Now(), Data: map[string]any{"id": "k-1"}},
			Body: map[string]any{"id": "k-1"}, Attempt: 1}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, conn.Deliver(ctx, d), c.Kind)
		cancel()
		require.Equal(t, want[c.Kind], d.Status, c.Kind)
		require.NoError(t, conn.Close())
	}
}
