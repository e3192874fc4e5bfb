package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unsafe"

	"github.com/hms/extsync/pkg/event"
)

// ErrUnmappable marks an event the mapping cannot be applied to; retrying
// cannot help, so the pipeline dead-letters it.
var ErrUnmappable = errors.New("unmappable event")

// ErrNothingMapped is the ErrUnmappable of an event that holds none of
// the mapped fields: nothing to write, which a deletion does not need.
var ErrNothingMapped = errors.New("none of the mapped fields is in the event")

// Error says why an event could not be mapped.
type Error struct {
	Reason string
	// none: the event holds none of the mapped fields.
	none bool
}

func (e *Error) Error() string { return "unmappable event: " + e.Reason }

// Is makes errors.Is(err, ErrUnmappable) true, and ErrNothingMapped for
// an event with none of the mapped fields.
func (e *Error) Is(target error) bool {
	return target == ErrUnmappable || (e.none && target == ErrNothingMapped)
}

type rule struct {
	from, to string
}

// Mapping is a compiled set of rules. The zero Mapping passes data through.
type Mapping struct {
	rules []rule
}

// New compiles internal→external path rules, applied in a fixed order.
func New(rules map[string]string) *Mapping {
	m := &Mapping{}
	for from, to := range rules {
		m.rules = append(m.rules, rule{from, to})
	}
	// By source too, so that two rules with one target (which the
	// connectors file refuses) give the same record every time.
	sort.Slice(m.rules, func(i, j int) bool {
		a, b := m.rules[i], m.rules[j]
		return a.to < b.to || a.to == b.to && a.from < b.from
	})
	return m
}

// Apply returns the external record for data. With no rules it returns
// data itself; the caller must not modify either.
func (m *Mapping) Apply(data map[string]any) (map[string]any, error) {
	if m == nil || len(m.rules) == 0 {
		return data, nil
	}
	out := make(map[string]any, len(m.rules))
	ours := map[unsafe.Pointer]bool{reflect.ValueOf(out).UnsafePointer(): true}
	for _, r := range m.rules {
		v, ok := event.Lookup(data, r.from)
		if !ok {
			if blocked := blockedAt(data, r.from); blocked != "" {
				return nil, &Error{Reason: fmt.Sprintf("%q: %q is not an object", r.from, blocked)}
			}
			continue // absent fields are left out: partial updates are normal
		}
		if err := set(out, ours, r.to, v); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, &Error{Reason: fmt.Sprintf("none of the mapped fields (%s) is in the event", m.sources()), none: true}
	}
	return out, nil
}

func (m *Mapping) sources() string {
	s := make([]string, len(m.rules))
	for i, r := range m.rules {
		s[i] = r.from
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// blockedAt returns the prefix of path that holds a scalar where an object
// was expected, or "" when the path is simply absent.
func blockedAt(data map[string]any, path string) string {
	segs := strings.Split(path, ".")
	for i := 1; i < len(segs); i++ {
		prefix := strings.Join(segs[:i], ".")
		v, ok := event.Lookup(data, prefix)
		if !ok {
			return ""
		}
		switch v.(type) {
		case map[string]any, []any, nil:
		default:
			return prefix
		}
	}
	return ""
}

// set writes v at path, creating objects on the way. It only ever writes
// into objects it created (ours): an object copied from the event is the
// event's own and must not change.
func set(out map[string]any, ours map[unsafe.Pointer]bool, path string, v any) error {
	segs := strings.Split(path, ".")
	cur := out
	for i, seg := range segs[:len(segs)-1] {
		next, exists := cur[seg]
		if !exists {
			m := map[string]any{}
			ours[reflect.ValueOf(m).UnsafePointer()] = true
			cur[seg] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok || !ours[reflect.ValueOf(m).UnsafePointer()] {
			return &Error{Reason: fmt.Sprintf("target %q: %q is already a value", path, strings.Join(segs[:i+1], "."))}
		}
		cur = m
	}
	cur[segs[len(segs)-1]] = v
	return nil
}
