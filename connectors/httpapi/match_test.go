package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func TestConflictMatchTurnsARefusalIntoAConflict(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := "OVERLAPPING_ASSIGNMENT"
		if r.URL.Path == "/workflows/other" {
			code = "MISSING_ROOM"
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"error":{"code":"` + code + `"}}`))
	}))
	defer srv.Close()
	c := newConnector(t, Config{URL: srv.URL + "/workflows/{id}", ConflictMatch: `$.error.code == "OVERLAPPING_ASSIGNMENT"`})
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.Equal(t, connectors.Conflict, connectors.Classify(err), "%v", err)
	require.Equal(t, 422, connectors.AsDeliveryError(err).Status)
	err = c.Deliver(context.Background(), delivery(map[string]any{"id": "other"}))
	require.Equal(t, connectors.Permanent, connectors.Classify(err), "another refusal stays permanent: %v", err)

	_, err = build(Config{URL: srv.URL + "/x/{id}", ConflictMatch: "error.code = OVERLAPPING"})
	require.ErrorContains(t, err, `want $.path.to.field == "value"`)
}

func TestIfMatchIsSentAndTheETagKept(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("If-Match")
		w.Header().Set("ETag", `"8"`)
	}))
	defer srv.Close()
	c := newConnector(t, Config{URL: srv.URL + "/workflows/{id}"})
	d := delivery(map[string]any{"id": "wf-1"})
	d.IfMatch = `"7"`
	require.NoError(t, c.Deliver(context.Background(), d))
	require.Equal(t, `"7"`, got)
	require.Equal(t, `"8"`, d.ETag)
}
