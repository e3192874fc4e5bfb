package coherence

import (
	"encoding/json"
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/hms/extsync/pkg/event"
)

// Field is one mapped field whose value differs: what extsync delivered
// and what the system holds (nil when it holds nothing there).
type Field struct {
	Field   string `json:"field"`
	Extsync any    `json:"extsync"`
	System  any    `json:"system"`
}

// Diff compares the fields of the record extsync delivered (sent) with
// the system's record, field by field, leaves only: objects are walked,
// arrays and scalars compared whole. Fields the system has and the
// record does not are not compared. Values that say the same in another
// form are equal: the same instant in another zone or precision, the
// same number as a number or as text, a boolean as text.
func Diff(sent, system map[string]any) []Field {
	var out []Field
	walk("", sent, func(path string, v any) {
		got, _ := event.Lookup(system, path)
		if !Same(v, got) {
			out = append(out, Field{Field: path, Extsync: v, System: got})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// walk calls fn for each leaf of m with its dotted path.
func walk(prefix string, m map[string]any, fn func(path string, v any)) {
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			walk(path, sub, fn)
			continue
		}
		fn(path, v)
	}
}

// Same says whether two JSON values say the same thing.
func Same(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !Same(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Same(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if b == nil {
		return false
	}
	if _, ok := b.(map[string]any); ok {
		return false
	}
	if _, ok := b.([]any); ok {
		return false
	}
	return sameScalar(a, b)
}

func sameScalar(a, b any) bool {
	sa, okA := event.Scalar(a)
	sb, okB := event.Scalar(b)
	if !okA || !okB {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return string(ja) == string(jb)
	}
	if sa == sb {
		return true
	}
	if na, ok := number(sa); ok {
		nb, ok := number(sb)
		return ok && na.Cmp(nb) == 0
	}
	if ta, ok := instant(sa); ok {
		tb, ok := instant(sb)
		return ok && ta.Equal(tb)
	}
	return false
}

// number reads s as an exact decimal.
func number(s string) (*big.Rat, bool) {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return nil, false // also refuses "1/2", which big.Rat would take
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// instant reads s as an RFC 3339 time, or the form PostgreSQL writes
// (a space for the T).
func instant(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
