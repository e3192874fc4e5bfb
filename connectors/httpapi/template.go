package httpapi

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
)

// template is a URL with {dotted.path} placeholders filled from event data.
type template struct {
	literals []string // len(literals) == len(paths)+1
	paths    []string
	parts    []part // where in the URL each placeholder is
}

// part is a part of a URL a placeholder can be in.
type part int

const (
	// inHost is the scheme or host: config validation refuses it, as it
	// would let an event choose where its data is sent.
	inHost part = iota
	inPath
	// inQuery is after the '?' (or '#'). Its values are query-escaped:
	// path escaping leaves & and = as they are.
	inQuery
)

func parseTemplate(s string) (*template, error) {
	t := &template{}
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			t.literals = append(t.literals, s)
			return t, nil
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("placeholder at %q has no closing }", s[open:])
		}
		path := s[open+1 : open+end]
		if path == "" || strings.ContainsAny(path, "{ /") {
			return nil, fmt.Errorf("placeholder {%s} is not a dotted field path", path)
		}
		t.literals = append(t.literals, s[:open])
		t.paths = append(t.paths, path)
		t.parts = append(t.parts, partAfter(strings.Join(t.literals, "")))
		s = s[open+end+1:]
	}
}

// partAfter says which part of the URL a placeholder following the
// literal text before is in.
func partAfter(before string) part {
	_, rest, ok := strings.Cut(before, "://")
	i := strings.IndexAny(rest, "/?#")
	switch {
	case !ok || i < 0:
		return inHost
	case strings.ContainsAny(rest[i:], "?#"):
		return inQuery
	}
	return inPath
}

// checkParts refuses a placeholder in the scheme or host.
func (t *template) checkParts() error {
	for i, p := range t.paths {
		if t.parts[i] == inHost {
			return fmt.Errorf("placeholder {%s} is in the scheme or host: only the path and query can take event values", p)
		}
	}
	return nil
}

func (t *template) render(value func(i int) string) string {
	var b strings.Builder
	n := 0 // one allocation for the URL, not one per doubling
	for i, lit := range t.literals {
		n += len(lit)
		if i < len(t.paths) {
			n += len(value(i))
		}
	}
	b.Grow(n)
	for i, lit := range t.literals {
		b.WriteString(lit)
		if i < len(t.paths) {
			b.WriteString(value(i))
		}
	}
	return b.String()
}

// expand fills the placeholders from data, path-escaped so an id such as
// "a/b" stays one path segment (query-escaped in the query, so "a&b=c"
// stays one parameter's value). A missing field is a permanent failure:
// no retry will make it appear.
func (t *template) expand(data map[string]any) (string, error) {
	vals := make([]string, len(t.paths))
	for i, p := range t.paths {
		s, ok, err := event.LookupScalar(data, p)
		if err != nil {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: %w", p, err))
		}
		if !ok || s == "" {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: the event has no field %q", p, p))
		}
		if t.parts[i] == inQuery {
			vals[i] = url.QueryEscape(s)
			continue
		}
		if s == "." || s == ".." {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: %q would change the path, not name an entity", p, s))
		}
		vals[i] = url.PathEscape(s)
	}
	return t.render(func(i int) string { return vals[i] }), nil
}
