package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReceiverPrintsOneLinePerRequest(t *testing.T) {
	var out bytes.Buffer
	srv := httptest.NewServer(handler(&out))
	defer srv.Close()

	send := func(method, path, key, body string) int {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}

	require.Equal(t, http.StatusOK, send(http.MethodPut, "/workflows/wf-1", "ev-1", `{"workflow_name":"Attorney Rotation"}`))
	require.Equal(t, http.StatusOK, send(http.MethodPost, "/bulk?x=1", "batch-2", "{\"a\":1}\n{\"a\":2}\n"))
	require.Equal(t, http.StatusMethodNotAllowed, send(http.MethodGet, "/workflows/wf-1", "", ""))

	require.Equal(t,
		"PUT /workflows/wf-1 Idempotency-Key=ev-1 {\"workflow_name\":\"Attorney Rotation\"}\n"+
			"POST /bulk?x=1 Idempotency-Key=batch-2 {\"a\":1} {\"a\":2}\n",
		out.String())
}
