package coherence_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/coherence"
)

func TestDiffComparesTheDeliveredFieldsOnly(t *testing.T) {
	sent := map[string]any{"case_reference": "H-77", "courtroom": "4B",
		"judge": map[string]any{"name": "Okafor", "seat": 2.0}, "tags": []any{"a", "b"}}
	system := map[string]any{"case_reference": "H-77", "courtroom": "7A", "clerk_note": "moved",
		"judge": map[string]any{"name": "Okafor"}, "tags": []any{"a", "b"}}
	require.Equal(t, []coherence.Field{
		{Field: "courtroom", Extsync: "4B", System: "7A"},
		{Field: "judge.seat", Extsync: 2.0, System: nil},
	}, coherence.Diff(sent, system))
	require.Empty(t, coherence.Diff(sent, map[string]any{"case_reference": "H-77", "courtroom": "4B",
		"judge": map[string]any{"name": "Okafor", "seat": "2"}, "tags": []any{"a", "b"}}))
}

func TestSameReadsOneValueInItsOtherForms(t *testing.T) {
	for _, c := range []struct {
		a, b any
		same bool
	}{
		{"2026-05-01T09:00:00Z", "2026-05-01T11:00:00+02:00", true},
		{"2026-05-01T09:00:00Z", "2026-05-01 09:00:00+00", true},
		{"2026-05-01T09:00:00Z", "2026-05-01T09:00:01Z", false},
		{12.0, "12", true},
		{12.0, "12.0", true},
		{0.1, "0.10", true},
		{12.0, 13.0, false},
		{"1/2", "0.5", false},
		{true, "true", true},
		{true, false, false},
		{nil, nil, true},
		{nil, "", false},
		{"x", nil, false},
		{[]any{1.0, "a"}, []any{"1", "a"}, true},
		{[]any{1.0}, []any{1.0, 2.0}, false},
		{map[string]any{"a": 1.0}, map[string]any{"a": "1"}, true},
		{"a", []any{"a"}, false},
	} {
		require.Equal(t, c.same, coherence.Same(c.a, c.b), "%#v vs %#v", c.a, c.b)
		require.Equal(t, c.same, coherence.Same(c.b, c.a), "%#v vs %#v", c.b, c.a)
	}
}
