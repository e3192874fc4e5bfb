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
}

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
		s = s[open+end+1:]
	}
}

func (t *template) render(value func(path string) string) string {
	var b strings.Builder
	for i, lit := range t.literals {
		b.WriteString(lit)
		if i < len(t.paths) {
			b.WriteString(value(t.paths[i]))
		}
	}
	return b.String()
}

// expand fills the placeholders from data, path-escaped so an id such as
// "a/b" stays one path segment. A missing field is a permanent failure:
// no retry will make it appear.
func (t *template) expand(data map[string]any) (string, error) {
	vals := make(map[string]string, len(t.paths))
	for _, p := range t.paths {
		s, ok, err := event.LookupScalar(data, p)
		if err != nil {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: %w", p, err))
		}
		if !ok || s == "" {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: the event has no field %q", p, p))
		}
		if s == "." || s == ".." {
			return "", connectors.PermanentError(0, fmt.Errorf("URL placeholder {%s}: %q would change the path, not name an entity", p, s))
		}
		vals[p] = url.PathEscape(s)
	}
	return t.render(func(p string) string { return vals[p] }), nil
}
