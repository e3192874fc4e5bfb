package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"
)

// parsePages parses every page with the layout; a broken template is a
// bug caught by every test, so it panics.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(files, "templates/layout.html", n))
	}
	return out
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"pretty": prettyJSON,
	"value": func(v any) string {
		if v == nil {
			return "—"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"join":    strings.Join,
	"letters": letters,
	"lines":   func(s string) int { return min(max(strings.Count(s, "\n")+2, 6), 40) },
	"dlqURL":  dlqURL,
	"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"rate":    func(f float64) string { return fmt.Sprintf("%.1f/s", f) },
	"ms":      func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
}

func prettyJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return string(b)
	}
	return string(out)
}

// letters says n dead letters in words: "1 dead letter", "3 dead letters".
func letters(n int) string {
	if n == 1 {
		return "1 dead letter"
	}
	return fmt.Sprintf("%d dead letters", n)
}

var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// traceLink is the trace's URL from EXTSYNC_TRACE_URL, or "" when there
// is no template or id is not a W3C trace id.
func (c *Console) traceLink(id string) string {
	if c.o.TraceURL == "" || !traceID.MatchString(id) {
		return ""
	}
	return strings.ReplaceAll(c.o.TraceURL, "{trace_id}", id)
}

// traceOf reads the trace id of a W3C traceparent header.
func traceOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

// trace is a trace id with its link, for the templates.
type trace struct {
	ID, URL string
}

func (c *Console) trace(id string) trace { return trace{ID: id, URL: c.traceLink(id)} }
