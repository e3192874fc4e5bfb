package httpapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// bodyMatch is `$.dotted.path == "value"` over a JSON response body.
type bodyMatch struct {
	path  []string
	value string
}

var matchRE = regexp.MustCompile(`^\$\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\s*==\s*"([^"]*)"$`)

// parseMatch reads the expression; "" is no match at all.
func parseMatch(expr string) (*bodyMatch, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, nil
	}
	m := matchRE.FindStringSubmatch(expr)
	if m == nil {
		return nil, fmt.Errorf(`http.conflict_match %q: want $.path.to.field == "value"`, expr)
	}
	return &bodyMatch{path: strings.Split(m[1], "."), value: m[2]}, nil
}

// matches says whether body is JSON with the value at the path.
func (b *bodyMatch) matches(body []byte) bool {
	if b == nil {
		return false
	}
	var cur any
	if json.Unmarshal(body, &cur) != nil {
		return false
	}
	for _, p := range b.path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		cur = obj[p]
	}
	s, ok := cur.(string)
	return ok && s == b.value
}
