package event

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

var sprintf = fmt.Sprintf

// Lookup returns the value at a dotted path ("assignment.judge.name") in
// data. A segment that is a number indexes an array ("items.0.id").
func Lookup(data map[string]any, path string) (any, bool) {
	var cur any = data
	for seg := range strings.SplitSeq(path, ".") {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// SetPath writes v at the dotted path in m, Lookup's counterpart, making
// objects on the way. An object already on the path is copied before it
// is written into, so a record it is shared with stays as it was. A
// segment that holds a value other than an object is an error.
func SetPath(m map[string]any, path string, v any) error {
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			if _, taken := m[s]; taken {
				return fmt.Errorf("path %q: %q holds a value, not an object", path, s)
			}
			next = map[string]any{}
		} else {
			next = maps.Clone(next)
		}
		m[s] = next
		m = next
	}
	m[segs[len(segs)-1]] = v
	return nil
}

// Scalar renders a JSON scalar (string, number, bool) as text. Objects,
// arrays and null are not scalars.
func Scalar(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(s), true
	}
	return "", false
}

// LookupScalar returns the scalar at path as text; ok is false when the
// path is absent, and err is set when it holds a non-scalar.
func LookupScalar(data map[string]any, path string) (s string, ok bool, err error) {
	v, found := Lookup(data, path)
	if !found || v == nil {
		return "", false, nil
	}
	s, ok = Scalar(v)
	if !ok {
		return "", false, malformed("field %s is %T, want a string or number", quote(path), v)
	}
	return s, true, nil
}
