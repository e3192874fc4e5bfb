package event

import (
	"encoding/json"
	"hash/maphash"
	"sync/atomic"
	"unicode/utf8"
)

// parseObject reads a JSON object into the values encoding/json gives
// with UseNumber (map[string]any, []any, string, json.Number, bool, nil),
// in one pass without encoding/json's reflection and buffering: every
// event is decoded, and reflection is most of what decoding costs.
//
// It is a fast path, not a second definition of JSON: it gives up (ok
// false) on anything it does not handle plainly, invalid input and rare
// forms alike (surrogate escapes, invalid UTF-8, trailing bytes, deep
// nesting), and the caller then decodes with encoding/json, whose result
// or error stands. FuzzParseObjectAgreesWithEncodingJSON holds the two to
// the same answers.
//
// data is the JSON text of the object's top-level "data" member, as it
// stands in b (nil when there is none): a structured CloudEvent's data,
// which can then be sent on without encoding it again.
func parseObject(b []byte) (obj map[string]any, data []byte, ok bool) {
	p := parser{b: b}
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, nil, false
	}
	v, ok := p.object(0)
	if !ok {
		return nil, nil, false
	}
	p.space()
	if p.i != len(p.b) {
		return nil, nil, false
	}
	return v, p.data, true
}

// maxParseDepth is far below encoding/json's 10,000: deeper input is left
// to it.
const maxParseDepth = 256

type parser struct {
	b    []byte
	i    int
	data []byte // the top-level "data" member's text
}

func (p *parser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		v, ok := p.object(depth + 1)
		return v, ok
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *parser) literal(word string) bool {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return false
	}
	p.i += len(word)
	return true
}

// object reads {...} from p.b[p.i] == '{'.
func (p *parser) object(depth int) (map[string]any, bool) {
	if depth > maxParseDepth {
		return nil, false
	}
	p.i++
	obj := map[string]any{}
	if p.closes('}') {
		return obj, true
	}
	for {
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		p.space()
		start := p.i
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		obj[key] = v // a repeated name keeps its last value, as encoding/json does
		if depth == 0 && key == "data" {
			p.data = p.b[start:p.i]
		}
		if end, ok := p.separator('}'); !ok || end {
			return obj, ok
		}
	}
}

func (p *parser) array(depth int) ([]any, bool) {
	if depth > maxParseDepth {
		return nil, false
	}
	p.i++
	arr := []any{}
	if p.closes(']') {
		return arr, true
	}
	for {
		p.space()
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		arr = append(arr, v)
		if end, ok := p.separator(']'); !ok || end {
			return arr, ok
		}
	}
}

// closes reports (and skips) an immediate closing bracket: an empty
// object or array.
func (p *parser) closes(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// separator reads what follows a member or element: a comma (more to
// come), the closing bracket c (end), or anything else (not ok).
func (p *parser) separator(c byte) (end, ok bool) {
	p.space()
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ',':
			p.i++
			return false, true
		case c:
			p.i++
			return true, true
		}
	}
	return false, false
}

// key reads a member name. Events of one kind repeat the same names, so
// short names without escapes come from a small shared cache: a 512-byte
// CloudEvent has a dozen of them, each an allocation otherwise.
func (p *parser) key() (string, bool) {
	start := p.i + 1
	for j := start; j < len(p.b) && j-start <= maxInternedKey; j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return internKey(p.b[start:j]), true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return p.string()
		}
	}
	return p.string()
}

// maxInternedKey bounds the names the cache keeps: longer ones are rare
// and would only push out the common ones.
const maxInternedKey = 32

// keyCache holds recently read member names by hash. A slot is replaced
// whole, so readers on other goroutines see either name, never a torn one;
// two names sharing a slot only cost their allocations back.
var (
	keyCache [1024]atomic.Pointer[string]
	keySeed  = maphash.MakeSeed()
)

func internKey(b []byte) string {
	slot := &keyCache[maphash.Bytes(keySeed, b)%uint64(len(keyCache))]
	if s := slot.Load(); s != nil && *s == string(b) {
		return *s
	}
	s := string(b)
	slot.Store(&s)
	return s
}

// string reads "..." from p.b[p.i] == '"'. Strings without escapes, the
// usual kind, are one copy.
func (p *parser) string() (string, bool) {
	start := p.i + 1
	high := false
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := p.b[start:j]
			if high && !utf8.Valid(s) {
				return "", false // encoding/json replaces the bad bytes: its answer
			}
			p.i = j + 1
			return string(s), true
		case c == '\\':
			return p.escaped(start, j)
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return "", false
}

// escaped finishes a string with escapes, p.b[esc] being the first.
func (p *parser) escaped(start, esc int) (string, bool) {
	out := append(make([]byte, 0, esc-start+16), p.b[start:esc]...)
	for j := esc; j < len(p.b); {
		c := p.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", false
			}
			p.i = j + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(p.b) {
			return "", false
		}
		switch e := p.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(p.b[j+2:])
			if !ok || (r >= 0xD800 && r < 0xE000) { // surrogates: encoding/json's pairing rules
				return "", false
			}
			out = utf8.AppendRune(out, r)
			j += 4
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// number reads a JSON number as the literal encoding/json's UseNumber
// keeps: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() (any, bool) {
	start, i := p.i, p.i
	if p.b[i] == '-' {
		i++
	}
	switch {
	case i < len(p.b) && p.b[i] == '0':
		i++
	case i < len(p.b) && p.b[i] >= '1' && p.b[i] <= '9':
		i = p.digits(i)
	default:
		return nil, false
	}
	if i < len(p.b) && p.b[i] == '.' {
		if i = p.digits(i + 1); p.b[i-1] == '.' {
			return nil, false
		}
	}
	if i < len(p.b) && (p.b[i] == 'e' || p.b[i] == 'E') {
		i++
		if i < len(p.b) && (p.b[i] == '+' || p.b[i] == '-') {
			i++
		}
		d := p.digits(i)
		if d == i {
			return nil, false
		}
		i = d
	}
	p.i = i
	return json.Number(p.b[start:i]), true
}

func (p *parser) digits(i int) int {
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
		i++
	}
	return i
}
