package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

// A certificate that does not verify will not fix itself on a retry: the
// delivery is refused as permanent, names the certificate, and the system
// never sees the request.
func TestDeliverUntrustedCertificateIsPermanent(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { got.Add(1) }))
	t.Cleanup(srv.Close)
	c := newConnector(t, Config{URL: srv.URL + "/workflows/{id}"})
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "certificate")
	require.Zero(t, got.Load())
}
