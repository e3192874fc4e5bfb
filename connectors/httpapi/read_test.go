package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

// readSystem holds records by id and says how it was asked.
type readSystem struct {
	*httptest.Server
	method, path string
	body         map[string]any
}

func newReadSystem(t *testing.T, records map[string]map[string]any) *readSystem {
	s := &readSystem{}
	serve := func(w http.ResponseWriter, r *http.Request) {
		s.method, s.path, s.body = r.Method, r.URL.Path, nil
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			_ = json.Unmarshal(b, &s.body)
		}
		rec, ok := records[r.PathValue("id")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v7"`)
		_ = json.NewEncoder(w).Encode(rec)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/records/{id}", serve)
	mux.HandleFunc("/lookup/{id}", serve)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestFetchReadsWithGETOnTheDeliveryURLByDefault(t *testing.T) {
	sys := newReadSystem(t, map[string]map[string]any{"wf-1": {"case_reference": "H-77"}})
	c := newConnector(t, Config{URL: sys.URL + "/records/{id}"}).(*Connector)
	d := delivery(map[string]any{"id": "wf-1"})
	body, etag, err := c.Fetch(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"case_reference": "H-77"}, body)
	require.Equal(t, `"v7"`, etag)
	require.Equal(t, http.StatusOK, d.Status)
	require.Equal(t, http.MethodGet, sys.method)
}

func TestFetchReadsWhereHTTPReadSays(t *testing.T) {
	sys := newReadSystem(t, map[string]map[string]any{"wf-1": {"case_reference": "H-77"}})
	c := newConnector(t, Config{URL: sys.URL + "/records/{id}",
		Read: &Read{URL: sys.URL + "/lookup/{id}", Method: "post"}}).(*Connector)
	body, _, err := c.Fetch(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"case_reference": "H-77"}, body)
	require.Equal(t, http.MethodPost, sys.method)
	require.Equal(t, "/lookup/wf-1", sys.path)
	require.Equal(t, "H-77", sys.body["case_reference"], "a POST read carries the mapped record")
}

func TestFetchOfARecordTheSystemLacksIsEmptyNotAnError(t *testing.T) {
	sys := newReadSystem(t, nil)
	c := newConnector(t, Config{URL: sys.URL + "/records/{id}"}).(*Connector)
	d := delivery(map[string]any{"id": "wf-404"})
	body, _, err := c.Fetch(context.Background(), d)
	require.NoError(t, err)
	require.Empty(t, body)
	require.Equal(t, http.StatusNotFound, d.Status)
}

func TestFetchRefusalIsClassifiedWithItsStatus(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(s.Close)
	c := newConnector(t, Config{URL: s.URL + "/records/{id}"}).(*Connector)
	_, _, err := c.Fetch(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	var de *connectors.DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, connectors.Transient, de.Class)
	require.Equal(t, http.StatusServiceUnavailable, de.Status)
}

func TestHTTPReadIsChecked(t *testing.T) {
	for read, want := range map[Read]string{
		{URL: "https://x.example/r/{id}", Method: "PUT"}: `http.read.method "PUT": want GET or POST`,
		{Method: "GET"}:           "http.read.url is required",
		{URL: "/r/{id}"}:          "http.read.url must be an absolute",
		{URL: "https://{host}/r"}: "is in the scheme or host",
	} {
		_, err := build(Config{URL: "https://x.example/w/{id}", Read: &read})
		require.ErrorContains(t, err, want, "%+v", read)
	}
}
