package mapping_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/mapping"
)

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

const workflow = `{
	"id": "wf-1",
	"case_reference": "ignored",
	"hearingId": "H-77",
	"scheduledAt": "2025-03-04T09:00:00Z",
	"assignment": {"judge": {"name": "Okafor", "id": 3}, "room": "4B"},
	"tags": ["urgent", {"k": "v"}],
	"parties": {"plaintiff": "A", "defendant": {"name": "B"}},
	"nothing": null,
	"title": "Attorney Rotation"
}`

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		rules map[string]string
		want  string
	}{
		{
			name:  "flat rename",
			rules: map[string]string{"hearingId": "case_reference"},
			want:  `{"case_reference":"H-77"}`,
		},
		{
			name:  "nested source",
			rules: map[string]string{"assignment.judge.name": "judge"},
			want:  `{"judge":"Okafor"}`,
		},
		{
			name:  "nested target",
			rules: map[string]string{"hearingId": "x.y"},
			want:  `{"x":{"y":"H-77"}}`,
		},
		{
			name:  "nested targets sharing a parent",
			rules: map[string]string{"hearingId": "case.ref", "scheduledAt": "case.start", "assignment.room": "case.where.room"},
			want:  `{"case":{"ref":"H-77","start":"2025-03-04T09:00:00Z","where":{"room":"4B"}}}`,
		},
		{
			name:  "arrays and objects copied intact",
			rules: map[string]string{"tags": "labels", "parties": "sides", "assignment.judge": "judge"},
			want:  `{"labels":["urgent",{"k":"v"}],"sides":{"plaintiff":"A","defendant":{"name":"B"}},"judge":{"name":"Okafor","id":3}}`,
		},
		{
			name:  "array index in the source",
			rules: map[string]string{"tags.1.k": "first_tag_value"},
			want:  `{"first_tag_value":"v"}`,
		},
		{
			name:  "absent source fields are omitted",
			rules: map[string]string{"hearingId": "case_reference", "location": "courtroom", "assignment.clerk": "clerk"},
			want:  `{"case_reference":"H-77"}`,
		},
		{
			name:  "explicit null is copied",
			rules: map[string]string{"nothing": "cleared", "title": "name"},
			want:  `{"cleared":null,"name":"Attorney Rotation"}`,
		},
		{
			name:  "path through null is absent",
			rules: map[string]string{"nothing.x": "x", "title": "name"},
			want:  `{"name":"Attorney Rotation"}`,
		},
		{
			name:  "fields not mapped are left out",
			rules: map[string]string{"id": "id"},
			want:  `{"id":"wf-1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := decode(t, workflow)
			got, err := mapping.New(tt.rules).Apply(data)
			require.NoError(t, err)
			require.Equal(t, decode(t, tt.want), got)
			require.Equal(t, decode(t, workflow), data, "Apply changed its input")
		})
	}
}

func TestApplyWithoutRulesPassesDataThrough(t *testing.T) {
	data := decode(t, workflow)
	for name, m := range map[string]*mapping.Mapping{
		"nil rules":   mapping.New(nil),
		"empty rules": mapping.New(map[string]string{}),
		"zero value":  {},
		"nil mapping": nil,
	} {
		got, err := m.Apply(data)
		require.NoError(t, err, name)
		require.Equal(t, reflect.ValueOf(data).Pointer(), reflect.ValueOf(got).Pointer(), "%s: not the same map", name)
	}
}

func TestApplyUnmappable(t *testing.T) {
	tests := []struct {
		name  string
		rules map[string]string
		data  string
		// reason holds substrings of the error.
		reason []string
	}{
		{
			name:   "none of the fields present",
			rules:  map[string]string{"hearingId": "case_reference", "scheduledAt": "start_time"},
			data:   `{"id":"wf-1"}`,
			reason: []string{"none of the mapped fields", "hearingId", "scheduledAt"},
		},
		{
			name:   "empty data",
			rules:  map[string]string{"hearingId": "case_reference"},
			data:   `{}`,
			reason: []string{"none of the mapped fields (hearingId)"},
		},
		{
			name:   "path through a scalar",
			rules:  map[string]string{"assignment.judge.name": "judge", "id": "id"},
			data:   `{"id":"wf-1","assignment":"Okafor"}`,
			reason: []string{`"assignment.judge.name"`, `"assignment" is not an object`},
		},
		{
			name:   "path through a nested scalar",
			rules:  map[string]string{"assignment.judge.name": "judge"},
			data:   `{"assignment":{"judge":7}}`,
			reason: []string{`"assignment.judge" is not an object`},
		},
		{
			name:   "path through a bool inside an array",
			rules:  map[string]string{"tags.0.k": "k"},
			data:   `{"tags":[true]}`,
			reason: []string{`"tags.0" is not an object`},
		},
		{
			name:   "target already holds a value",
			rules:  map[string]string{"a": "x", "b": "x.y"},
			data:   `{"a":1,"b":2}`,
			reason: []string{`target "x.y"`, `"x" is already a value`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mapping.New(tt.rules).Apply(decode(t, tt.data))
			require.Nil(t, got)
			require.ErrorIs(t, err, mapping.ErrUnmappable)
			var me *mapping.Error
			require.ErrorAs(t, err, &me)
			for _, r := range tt.reason {
				require.Contains(t, err.Error(), r)
			}
		})
	}
}

// An object copied to x must not be written into when another rule
// targets x.y: that would change the event's own data.
func TestApplyNeverWritesIntoTheEvent(t *testing.T) {
	data := decode(t, `{"obj":{"a":1},"b":2}`)
	got, err := mapping.New(map[string]string{"obj": "x", "b": "x.y"}).Apply(data)
	require.Equal(t, decode(t, `{"obj":{"a":1},"b":2}`), data, "Apply changed its input (result %v, %v)", got, err)
}

func TestApplyIsDeterministic(t *testing.T) {
	rules := map[string]string{"a": "x", "b": "x.y", "c": "z"}
	first, firstErr := mapping.New(rules).Apply(map[string]any{"a": 1, "b": 2, "c": 3})
	for range 50 {
		got, err := mapping.New(rules).Apply(map[string]any{"a": 1, "b": 2, "c": 3})
		require.Equal(t, first, got)
		require.Equal(t, firstErr, err)
	}
}

// Two rules with one target are refused in the connectors file, but a
// Mapping built from them must still give one record, not whichever rule
// the map iteration ran last (FuzzApply checks the same).
func TestApplyTwoRulesOneTargetIsDeterministic(t *testing.T) {
	for range 50 {
		got, err := mapping.New(map[string]string{"a": "x", "b": "x"}).Apply(map[string]any{"a": 1, "b": 2})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"x": 2}, got)
	}
}

func BenchmarkApply(b *testing.B) {
	m := mapping.New(map[string]string{
		"hearingId":             "case_reference",
		"scheduledAt":           "start_time",
		"assignment.room":       "courtroom",
		"assignment.judge.name": "judge.name",
		"assignment.judge.id":   "judge.id",
		"tags":                  "labels",
	})
	data := decode(b, workflow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Apply(data); err != nil {
			b.Fatal(err)
		}
	}
}
