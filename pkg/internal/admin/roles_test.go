package admin_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/admin"
)

// The viewer token reads the API and is refused every change; the admin
// token does both; a wrong token does neither.
func TestViewerTokenReadsButCannotChange(t *testing.T) {
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: "adm", ViewerToken: "view",
		Ready: func(context.Context) error { return nil }})
	require.NoError(t, err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "done") })
	s.Mount("GET /api/v1/thing", ok)
	s.Mount("POST /api/v1/thing", ok)
	s.Mount("PUT /api/v1/thing", ok)
	s.Mount("DELETE /api/v1/thing", ok)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	base := "http://" + s.Addr() + "/api/v1/thing"

	code, _ := call(t, "GET", base, "view")
	require.Equal(t, http.StatusOK, code)
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		code, body := call(t, m, base, "view")
		require.Equal(t, http.StatusForbidden, code, m)
		require.Contains(t, body, "viewer token reads")
		code, _ = call(t, m, base, "adm")
		require.Equal(t, http.StatusOK, code, m)
	}
	code, _ = call(t, "GET", base, "nope")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = call(t, "GET", base, "")
	require.Equal(t, http.StatusUnauthorized, code)

	require.Equal(t, admin.RoleAdmin, s.TokenRole("adm"))
	require.Equal(t, admin.RoleViewer, s.TokenRole("view"))
	require.Equal(t, admin.RoleNone, s.TokenRole(""))
	require.True(t, s.TokensSet())
}
