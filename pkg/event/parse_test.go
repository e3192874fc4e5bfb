package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// stdObject is the reference the fast path must agree with: encoding/json
// with UseNumber, one object, nothing after it but white space.
func stdObject(b []byte) (map[string]any, bool) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return nil, false
	}
	if _, err := d.Token(); err == nil {
		return nil, false
	}
	obj, ok := v.(map[string]any)
	return obj, ok
}

var parseSeeds = []string{
	`{}`, ` {"a" : 1 } `, `{"data":{"x":[1, 2]} ,"data" : "y"}`, `{"a":{"data":1}}`, `{"a":1,"a":2}`, `{"a":[1,2,{"b":null}],"c":true,"d":false}`,
	`{"n":-0.5e+10,"m":0,"o":1E3,"p":-12.25}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`, `{"n":.5}`,
	`{"s":"a\"b\\c\/d\b\f\n\r\t"}`, `{"s":"\u00e9\u4e2d\uD83D\uDE00"}`, `{"s":"\ud800"}`, `{"s":"caf\u00e9"}`,
	`{"s":"é中😀"}`, "{\"s\":\"\xff\"}", "{\"s\":\"\x01\"}", `{"s":"\x"}`, `{"s":"\u12"}`,
	`{"a":1}}`, `{"a":1} x`, `{"a":1}{"b":2}`, `[1]`, `"x"`, `{"a":tru}`, `{"a":truex}`, `{"a" 1}`, `{"a":1,}`,
	`{"a":[1,]}`, `{,}`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a":1` + "\t\r\n" + `}`, ``, `{`, `{"a":"`,
	strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300),
}

// FuzzParseObjectAgreesWithEncodingJSON: whatever the fast path accepts,
// encoding/json accepts with the same values. (What it declines goes to
// encoding/json anyway.)
func FuzzParseObjectAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, data, ok := parseObject(b)
		if !ok {
			return
		}
		want, stdOK := stdObject(b)
		if !stdOK {
			t.Fatalf("fast path accepted %q, encoding/json does not", b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", b, got, want)
		}
		if _, has := want["data"]; has != (data != nil) {
			t.Fatalf("%q: data member text %q", b, data)
		}
		if data != nil { // the text reads back as the value in the map
			var v any
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			if err := d.Decode(&v); err != nil || !reflect.DeepEqual(v, want["data"]) {
				t.Fatalf("%q: data member text %q reads as %#v (%v), want %#v", b, data, v, err, want["data"])
			}
		}
	})
}

// The fast path handles the usual events itself rather than declining
// them all: the decline-everything parser would pass the fuzz test above.
func TestParseObjectTakesTheUsualForms(t *testing.T) {
	for _, s := range []string{
		` {"a" : 1 } `, `{"a":1,"a":2}`, `{"a":[1,2,{"b":null}],"c":true,"d":false,"e":[]}`,
		`{"n":-0.5e+10,"m":0,"o":1E3,"p":-12.25}`, `{"s":"a\"b\\c\/d\b\f\n\r\t"}`, `{"s":"caf\u00e9 é中😀"}`,
	} {
		got, _, ok := parseObject([]byte(s))
		want, stdOK := stdObject([]byte(s))
		if !ok || !stdOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path %#v (%v), encoding/json %#v", s, got, ok, want)
		}
	}
	for _, s := range []string{`{"s":"\ud800"}`, "{\"s\":\"\xff\"}", `{"a":1}}`, `[1]`,
		strings.Repeat(`{"a":`, 300) + `1` + strings.Repeat(`}`, 300)} {
		if _, _, ok := parseObject([]byte(s)); ok {
			t.Errorf("%s: taken by the fast path, meant for encoding/json", s)
		}
	}
}

// TestMemberNamesStayRightWhenTheCacheIsFull reads more distinct names
// than the name cache has slots, twice, so slots are shared and replaced:
// every name must still be the one in the text.
func TestMemberNamesStayRightWhenTheCacheIsFull(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 3 * len(keyCache) {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteString(`,"a_name_longer_than_the_cache_keeps_at_all":1,"esc\u0061ped":2,"é":3}`)
	want, ok := stdObject([]byte(b.String()))
	if !ok {
		t.Fatal("test input is not a JSON object")
	}
	for pass := range 2 {
		got, _, ok := parseObject([]byte(b.String()))
		if !ok {
			t.Fatalf("pass %d: fast path declined the object", pass)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pass %d: names or values differ from encoding/json's", pass)
		}
	}
}
