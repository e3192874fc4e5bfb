package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/mapping"
)

// parseRules reads one "from=to" rule a line, as the fuzzer writes them.
func parseRules(s string) map[string]string {
	rules := map[string]string{}
	for line := range strings.SplitSeq(s, "\n") {
		if from, to, ok := strings.Cut(line, "="); ok {
			rules[from] = to
		}
	}
	return rules
}

// object decodes doc the way event.Decode does (numbers as json.Number);
// false when doc is not a JSON object.
func object(doc []byte) (map[string]any, bool) {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	var m map[string]any
	if d.Decode(&m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// FuzzApply applies any rules (valid in a connectors file or not) to any
// JSON object: Apply never panics, never changes the event's data, gives
// the same result every time, fails only with an *Error, and puts every
// present source value at its target. Run it with
//
//	go test -run x -fuzz FuzzApply -fuzztime 20s ./pkg/mapping
func FuzzApply(f *testing.F) {
	for _, s := range [][2]string{
		{"hearingId=case_reference\nscheduledAt=start_time", workflow},
		{"assignment.judge.name=judge.name\nassignment.judge.id=judge.id\ntags=labels", workflow},
		{"tags.1.k=first\nparties=sides.all\nnothing=cleared\nnothing.x=x", workflow},
		{"a=x\nb=x.y", `{"a":{"k":1},"b":2}`},
		{"a=x\nb=x", `{"a":1,"b":2}`},
		{"a=x.y\nb=x", `{"a":1,"b":2}`},
		{"a.b.c=t\nd.0=u", `{"a":{"b":"s"},"d":[]}`},
		{"=\n.=..\n..=.", `{"":{"":1}}`},
		{"items.-1=x\nitems.01=y\nitems.1e0=z", `{"items":[1,2]}`},
		{"a=0.1\nb=0", `{"a":1,"b":[2]}`},
		{"x=y", `{"x":` + strings.Repeat(`[`, 500) + strings.Repeat(`]`, 500) + `}`},
		{"", `{"id":"wf-1"}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, ruleText string, doc []byte) {
		data, ok := object(doc)
		if !ok {
			return
		}
		rules := parseRules(ruleText)
		out, err := mapping.New(rules).Apply(data)
		if pristine, _ := object(doc); !reflect.DeepEqual(data, pristine) {
			t.Fatalf("Apply changed the event's data: %v", data)
		}
		for range 4 { // New orders the rules afresh each time
			again, againErr := mapping.New(rules).Apply(data)
			if !reflect.DeepEqual(out, again) || !reflect.DeepEqual(err, againErr) {
				t.Fatalf("rules %q: %v, %v then %v, %v", rules, out, err, again, againErr)
			}
		}
		if err != nil {
			var me *mapping.Error
			if out != nil || !errors.Is(err, mapping.ErrUnmappable) || !errors.As(err, &me) || me.Reason == "" {
				t.Fatalf("failure %v (%T) with result %v: want an *Error and no result", err, err, out)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("the record cannot be sent: %v", err)
		}
		if len(rules) == 0 && reflect.ValueOf(out).Pointer() != reflect.ValueOf(data).Pointer() {
			t.Fatal("no rules, yet the data was not passed through")
		}
		if len(rules) > 0 && configValid(rules) {
			checkTargets(t, rules, data, out)
		}
	})
}

// configValid is what the connectors file accepts: distinct targets, none
// inside another.
func configValid(rules map[string]string) bool {
	seen := map[string]bool{}
	for _, to := range rules {
		if seen[to] {
			return false
		}
		seen[to] = true
	}
	for to := range seen {
		for other := range seen {
			if strings.HasPrefix(other, to+".") {
				return false
			}
		}
	}
	return true
}

func checkTargets(t *testing.T, rules map[string]string, data, out map[string]any) {
	t.Helper()
	for from, to := range rules {
		want, present := event.Lookup(data, from)
		got, found := event.Lookup(out, to)
		if present != found || !reflect.DeepEqual(want, got) {
			t.Fatalf("rule %q→%q: source %v (%v), target %v (%v) in %v", from, to, want, present, got, found, out)
		}
	}
	for k := range out {
		ok := false
		for _, to := range rules {
			ok = ok || strings.Split(to, ".")[0] == k
		}
		if !ok {
			t.Fatalf("the record has %q, which no rule targets: %v", k, out)
		}
	}
}
