package connectors_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func TestSafeURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://court.example/w/a%2Fb?api_key=SECRET#frag", "https://court.example/w/a%2Fb"},
		{"https://user:SECRET@court.example:8443/w", "https://court.example:8443/w"},
		{"http://[::1]:80/w/..%2F..%2Fadmin", "http://[::1]:80/w/..%2F..%2Fadmin"},
		{"https://court.example/w/a%0D%0AX-Injected:%201", "https://court.example/w/a%0D%0AX-Injected:%201"},
		{"https://court.example", "https://court.example"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.raw)
		require.NoError(t, err)
		require.Equal(t, tt.want, connectors.SafeURL(u))
	}
}

// FuzzSafeURL checks that SafeURL, which error messages and logs use,
// never carries the query, fragment or user info (where credentials
// live), keeps the host and path, and is one line. Run it with
//
//	go test -run x -fuzz FuzzSafeURL -fuzztime 20s ./connectors
func FuzzSafeURL(f *testing.F) {
	for _, s := range []string{
		"https://court.example/w/1?api_key=SECRET",
		"https://u:SECRET@court.example/w#SECRET",
		"https://court.example/w/a%2Fb%3Fc%23d",
		"https://court.example/w/a%0D%0AX-Injected:%201",
		"http://[fe80::1%25eth0]:8080/x",
		"https://court.example/%E2%98%83?",
		"https://court.example//evil.example/x",
		"mailto:SECRET@court.example",
		"https:SECRET@court.example/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		safe := connectors.SafeURL(u)
		if strings.ContainsAny(safe, "\r\n\x00?#") {
			t.Fatalf("SafeURL(%q) = %q: not one line, or has a query or fragment", raw, safe)
		}
		if u.Scheme == "" || u.Host == "" || strings.Contains(u.Host, "%") {
			// Requests have an absolute URL; an IPv6 zone is shown
			// unescaped, for reading only.
			return
		}
		back, err := url.Parse(safe)
		if err != nil {
			t.Fatalf("SafeURL(%q) = %q does not parse: %v", raw, safe, err)
		}
		if back.User != nil || back.RawQuery != "" || back.Fragment != "" {
			t.Fatalf("SafeURL(%q) = %q keeps user info, query or fragment", raw, safe)
		}
		if back.Scheme != u.Scheme || back.Host != u.Host || back.Path != u.Path {
			t.Fatalf("SafeURL(%q) = %q changes host %q path %q to %q %q", raw, safe, u.Host, u.Path, back.Host, back.Path)
		}
	})
}
