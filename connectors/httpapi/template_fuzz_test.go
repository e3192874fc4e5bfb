package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hms/extsync/connectors"
)

const fuzzOrigin = "https://court.example:8443"

// FuzzTemplate fills URL templates (configured path and query after a
// fixed origin) with any event value, and checks that the value stays in
// its placeholder: the scheme, host, literal path segments, query
// parameters and fragment are the configured ones, and the value reaches
// the external system unchanged once unescaped. Run it with
//
//	go test -run x -fuzz FuzzTemplate -fuzztime 20s ./connectors/httpapi
func FuzzTemplate(f *testing.F) {
	for _, s := range [][2]string{
		{"/api/v1/workflows/{id}", "wf-1"},
		{"/api/v1/workflows/{id}", "../../admin"},
		{"/api/v1/workflows/{id}/status", "%2e%2e/%2E%2E/admin"},
		{"/w/{id}?ref={id}&mode=full", "a&admin=1#frag"},
		{"/w/{id}", "a\r\nX-Injected: 1"},
		{"/w/{id}", "a\x00b\x7f"},
		{"/w/{id}", "\xff\xfe not UTF-8"},
		{"/w/{id}", "ünïcödé ☃ \u202e"},
		{"/w/.{id}", "."},
		{"/w/{id}.json", ".."},
		{"/w/%2e{id}", "."},
		{"/{id}", "//evil.example/x"},
		{"/w/{a}/{b.c}", "a;b,c=d+e$f:g@h"},
		{"?q={id}", "x y+z"},
		{"/w/{id}#{id}", "?#"},
		{"/w?a=1;b={id}", "c;d=e"},
		{"@{id}/x", "evil.example"}, // refused: the host
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tail, value string) {
		cfg := Config{URL: fuzzOrigin + tail}
		cfg.setDefaults()
		if cfg.validate() != nil {
			return // a connectors file with this URL is refused at start
		}
		tmpl, _ := parseTemplate(cfg.URL)
		data, ok := dataWith(tmpl.paths, value)
		if !ok {
			return
		}
		got, err := tmpl.expand(data)
		if err != nil {
			var de *connectors.DeliveryError
			if !errors.As(err, &de) || de.Class != connectors.Permanent {
				t.Fatalf("expand(%q): %v is not a permanent delivery error", value, err)
			}
			if value != "" && value != "." && value != ".." {
				t.Fatalf("expand(%q) refused a value it can escape: %v", value, err)
			}
			return
		}
		checkExpanded(t, tmpl, got, value)
	})
}

// dataWith is event data holding value at every path; false when two
// paths cannot both hold it (one inside the other).
func dataWith(paths []string, value string) (map[string]any, bool) {
	data := map[string]any{}
	for _, p := range paths {
		segs := strings.Split(p, ".")
		cur := data
		for _, seg := range segs[:len(segs)-1] {
			next, exists := cur[seg]
			if !exists {
				next = map[string]any{}
				cur[seg] = next
			}
			m, isMap := next.(map[string]any)
			if !isMap {
				return nil, false
			}
			cur = m
		}
		if prev, exists := cur[segs[len(segs)-1]]; exists && prev != value {
			return nil, false
		}
		cur[segs[len(segs)-1]] = value
	}
	return data, true
}

func checkExpanded(t *testing.T, tmpl *template, got, value string) {
	t.Helper()
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("value %q: expanded URL %q does not parse: %v", value, got, err)
	}
	refX, _ := url.Parse(tmpl.render(func(int) string { return "x1" }))
	refY, _ := url.Parse(tmpl.render(func(int) string { return "y2" }))
	if u.Scheme != refX.Scheme || u.Host != refX.Host || u.User.String() != refX.User.String() || u.Opaque != "" {
		t.Fatalf("value %q moved the request to %q", value, got)
	}
	checkPieces(t, "path segment", value, split(u.EscapedPath(), "/"), split(refX.EscapedPath(), "/"),
		split(refY.EscapedPath(), "/"), url.PathUnescape)
	checkPieces(t, "query parameter", value, split(u.RawQuery, "&"), split(refX.RawQuery, "&"),
		split(refY.RawQuery, "&"), func(s string) (string, error) {
			_, v, _ := strings.Cut(s, "=")
			return url.QueryUnescape(v)
		})
	if u.ForceQuery != refX.ForceQuery || (refX.Fragment == "" && u.Fragment != "") {
		t.Fatalf("value %q changed the query or fragment: %q", value, got)
	}
	req, err := http.NewRequest(http.MethodPut, got, nil)
	ref, _ := http.NewRequest(http.MethodPut, refX.String(), nil)
	if err != nil || req.URL.Host != ref.URL.Host {
		t.Fatalf("value %q: request for %q: %v", value, got, err)
	}
}

// whole says whether a piece is one placeholder's value and nothing else:
// the whole path segment, or the whole value of a query parameter.
func whole(what, x, y string) bool {
	if what == "path segment" {
		return x == "x1"
	}
	k, v, _ := strings.Cut(x, "=")
	return v == "x1" && y == k+"=y2"
}

func split(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// checkPieces compares the pieces (path segments or query parameters) of
// the expanded URL with the template rendered twice with markers: a piece
// equal in both renderings is literal and must be kept as is, a piece
// that is the marker alone must unescape to the value, and no piece may be
// a dot segment the template did not have.
func checkPieces(t *testing.T, what, value string, got, refX, refY []string, unescape func(string) (string, error)) {
	t.Helper()
	if len(got) != len(refX) {
		t.Fatalf("value %q: %d %ss %q, the template has %d (%q)", value, len(got), what, got, len(refX), refX)
	}
	for i, g := range got {
		if refX[i] == refY[i] {
			if g != refX[i] {
				t.Fatalf("value %q changed literal %s %q to %q", value, what, refX[i], g)
			}
			continue
		}
		dec, err := unescape(g)
		if err != nil {
			t.Fatalf("value %q: %s %q does not unescape: %v", value, what, g, err)
		}
		if what == "path segment" && (dec == "." || dec == "..") {
			t.Fatalf("value %q made the dot segment %q", value, g)
		}
		if whole(what, refX[i], refY[i]) {
			if dec != value {
				t.Fatalf("value %q arrives as %q in %s %q", value, dec, what, g)
			}
		}
	}
}
