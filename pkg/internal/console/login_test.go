package console_test

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A script guessing tokens is held up after five wrong ones; the right
// token is refused too while it waits, and other clients are not held up.
func TestFailedLoginsAreLimitedPerClient(t *testing.T) {
	f := newFixture(t, "adm-secret", "view-secret")
	guesser := f.browser(t)
	for i := range 5 {
		resp, _ := guesser.post("/login", url.Values{"token": {"guess"}}, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "guess %d", i+1)
	}
	resp, body := guesser.post("/login", url.Values{"token": {"guess"}}, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.True(t, wait >= 1 && wait <= 12, "Retry-After %d", wait)
	require.Contains(t, body, "Too many failed logins")
	resp, _ = guesser.post("/login", url.Values{"token": {"adm-secret"}}, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a right guess is refused unread")

	// Another address: 127.0.0.2 is loopback on Linux, not on every system.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		t.Skipf("no second loopback address to log in from: %v", err)
	}
	_ = conn.Close()
	other := f.browser(t)
	other.c.Transport = &http.Transport{DialContext: dialer.DialContext}
	other.login("adm-secret")
}
