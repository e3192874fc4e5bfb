package httpapi_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/connectors/httpapi"
	"github.com/hms/extsync/pkg/config"
)

func newHTTP(t *testing.T, url string) connectors.Connector {
	t.Helper()
	doc := fmt.Sprintf("connectors:\n  - name: c\n    kind: http\n    subjects: [hms.x]\n    http: {url: %q, timeout: 2s}\n", url+"/workflows/{id}")
	f, err := config.Parse("suite.yaml", []byte(doc), nil, nil)
	require.NoError(t, err)
	c, err := httpapi.Factory{}.New(connectors.Spec{Name: "c", Concurrency: 4, Decode: f.Connectors[0].Decode})
	require.NoError(t, err)
	return c
}

func TestSuite(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, strings.TrimPrefix(r.URL.Path, "/workflows/"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "start_time is required", http.StatusBadRequest)
	}))
	t.Cleanup(bad.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	connectortest.Run(t, connectortest.Harness{
		New:            func(t *testing.T) connectors.Connector { return newHTTP(t, ok.URL) },
		NewUnreachable: func(t *testing.T) connectors.Connector { return newHTTP(t, down) },
		Rejecting:      func(t *testing.T) connectors.Connector { return newHTTP(t, bad.URL) },
		Received: func(*testing.T) []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), got...)
		},
	})
}

func TestRefusedOAuth2ClientIsPermanentAndUnreachableTokenEndpointTransient(t *testing.T) {
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
	}))
	t.Cleanup(tokens.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(api.Close)
	build := func(tokenURL string) connectors.Connector {
		doc := fmt.Sprintf(`connectors:
  - name: c
    kind: http
    subjects: [hms.x]
    http:
      url: %q
      auth: {oauth2: {token_url: %q, client_id: id, client_secret: S3CRET-VALUE}}
`, api.URL+"/workflows/{id}", tokenURL)
		f, err := config.Parse("oauth.yaml", []byte(doc), nil, nil)
		require.NoError(t, err)
		c, err := httpapi.Factory{}.New(connectors.Spec{Name: "c", Concurrency: 1, Decode: f.Connectors[0].Decode})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	err := build(tokens.URL).Deliver(t.Context(), connectortest.Delivery("wf-1", 1))
	require.ErrorIs(t, err, connectors.ErrPermanent, "a refused client will not be accepted on retry: %v", err)
	require.NotContains(t, err.Error(), "S3CRET-VALUE")

	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, lerr)
	down := "http://" + l.Addr().String() + "/token"
	require.NoError(t, l.Close())
	err = build(down).Deliver(t.Context(), connectortest.Delivery("wf-1", 1))
	require.ErrorIs(t, err, connectors.ErrTransient, "%v", err)
}
