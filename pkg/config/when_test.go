package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

func TestConditionMatchesEventData(t *testing.T) {
	data := func(s string) map[string]any {
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		require.NoError(t, d.Decode(&m))
		return m
	}
	tests := []struct {
		cond, doc string
		want      bool
	}{
		{`$.status == "cancelled"`, `{"status":"cancelled"}`, true},
		{`$.status == "cancelled"`, `{"status":"open"}`, false},
		{`$.status == "cancelled"`, `{}`, false},
		{`$.status != "cancelled"`, `{"status":"open"}`, true},
		{`$.case.state.code == 3`, `{"case":{"state":{"code":3.0}}}`, true},
		{`$.case.state.code == 3`, `{"case":{"state":{"code":"3"}}}`, false},
		{`$.gone == true`, `{"gone":true}`, true},
		{`$.gone == true`, `{"gone":"true"}`, false},
		{`$.removed_at != null`, `{"removed_at":"2026-01-01"}`, true},
		{`$.removed_at != null`, `{}`, false},
		{`$.removed_at == null`, `{"removed_at":null}`, true},
	}
	for _, tc := range tests {
		c, err := config.ParseCondition(tc.cond)
		require.NoError(t, err, tc.cond)
		require.Equal(t, tc.want, c.Match(data(tc.doc)), "%s on %s", tc.cond, tc.doc)
		require.Equal(t, tc.want, c.MatchJSON([]byte(tc.doc)), "%s on %s as text", tc.cond, tc.doc)
	}
	var none *config.Condition
	require.False(t, none.Match(data(`{}`)), "no condition is never met")
}

func TestDeletesByConditionOrCloudEventType(t *testing.T) {
	cond, err := config.ParseCondition(`$.status == "cancelled"`)
	require.NoError(t, err)
	c := &config.Connector{DeleteWhen: cond}
	require.True(t, c.Deletes(&event.Event{Data: map[string]any{"status": "cancelled"}}))
	require.False(t, c.Deletes(&event.Event{Data: map[string]any{"status": "open"}}))
	plain := &config.Connector{}
	require.True(t, plain.Deletes(&event.Event{CloudEvent: true, Type: "gov.hms.workflow.deleted"}))
	require.False(t, plain.Deletes(&event.Event{CloudEvent: true, Type: "gov.hms.workflow.deletedness"}))
	require.False(t, plain.Deletes(&event.Event{Type: "hms.workflow.deleted"}), "plain JSON: the type is the subject, not a claim")
}

// BenchmarkDeletes is what every decoded event pays to learn whether it
// is a deletion: the type's suffix and one path lookup.
func BenchmarkDeletes(b *testing.B) {
	cond, err := config.ParseCondition(`$.case.status == "cancelled"`)
	require.NoError(b, err)
	c := &config.Connector{DeleteWhen: cond}
	ev := &event.Event{CloudEvent: true, Type: "gov.hms.workflow.updated",
		Data: map[string]any{"id": "wf-1", "case": map[string]any{"status": "open"}}}
	b.ReportAllocs()
	for b.Loop() {
		if c.Deletes(ev) {
			b.Fatal("not a deletion")
		}
	}
}
