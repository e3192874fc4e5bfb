package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/hms/extsync/pkg/event"
)

// ParseTime reads a time filter an operator gives (--since, ?since=):
// RFC 3339, or a duration meaning that long before now ("2h"). Empty is
// the zero time: no bound.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago; give it without a sign", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a time such as 2026-11-23T08:00:00Z or a duration such as 2h", v)
	}
	return t, nil
}

// Condition is a test on a JSON document: `$.dotted.path == "value"` or
// `!=`, the value a JSON string, number, true, false or null. It is the
// one condition syntax of the connectors file (delete_when, and the http
// kind's conflict_match). A path that is absent holds null.
type Condition struct {
	text  string
	path  string
	not   bool
	value any // string, number as canonical text (numberLit), bool or nil
}

// numberLit is a number literal, compared by value ("1.0" == 1).
type numberLit string

var conditionRE = regexp.MustCompile(`^\$\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\s*(==|!=)\s*(.+)$`)

// ConditionSyntax is how a condition is written, for error messages.
const ConditionSyntax = `$.path.to.field == "value" (or !=; the value a JSON string, number, true, false or null)`

// ParseCondition reads a condition; "" is nil, a condition never met.
func ParseCondition(expr string) (*Condition, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	m := conditionRE.FindStringSubmatch(expr)
	if m == nil {
		return nil, fmt.Errorf("%q: want %s", expr, ConditionSyntax)
	}
	var lit any
	d := json.NewDecoder(strings.NewReader(m[3]))
	d.UseNumber()
	if err := d.Decode(&lit); err != nil || d.More() {
		return nil, fmt.Errorf("%q: %s is not a JSON string, number, true, false or null", expr, m[3])
	}
	switch v := lit.(type) {
	case map[string]any, []any:
		return nil, fmt.Errorf("%q: compare with a JSON string, number, true, false or null, not %s", expr, m[3])
	case json.Number:
		lit = numberLit(canonical(v.String()))
	}
	return &Condition{text: expr, path: m[1], not: m[2] == "!=", value: lit}, nil
}

// String is the condition as written.
func (c *Condition) String() string {
	if c == nil {
		return ""
	}
	return c.text
}

// Match says whether doc meets the condition; a nil condition never does.
func (c *Condition) Match(doc map[string]any) bool {
	if c == nil {
		return false
	}
	got, _ := event.Lookup(doc, c.path)
	return c.equal(got) != c.not
}

// MatchJSON is Match on a JSON text; what is not a JSON object matches
// nothing.
func (c *Condition) MatchJSON(body []byte) bool {
	if c == nil {
		return false
	}
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&doc) != nil || doc == nil {
		return false
	}
	return c.Match(doc)
}

func (c *Condition) equal(got any) bool {
	switch want := c.value.(type) {
	case nil:
		return got == nil
	case numberLit:
		s, ok := event.Scalar(got)
		if _, isStr := got.(string); !ok || isStr {
			return false
		}
		return canonical(s) == string(want)
	default:
		return got == want
	}
}

// canonical writes a number so that equal values read the same.
func canonical(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	return r.RatString()
}

// UnmarshalYAML parses the condition, keeping the value's position on
// error.
func (c *Condition) UnmarshalYAML(n ast.Node) error {
	s, ok := scalarText(n)
	if !ok {
		return errAt(n, "want a condition: %s", ConditionSyntax)
	}
	p, err := ParseCondition(s)
	if err != nil {
		return errAt(n, "%v", err)
	}
	if p != nil {
		*c = *p
	}
	return nil
}
