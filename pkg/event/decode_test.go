package event_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/event"
)

var stored = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func msg(body string, header map[string][]string) event.Message {
	return event.Message{
		Subject: "hms.workflow.updated", Stream: "HMS_EVENTS", Seq: 7, Time: stored,
		Header: header, Body: []byte(body),
	}
}

func h(kv ...string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = append(m[kv[i]], kv[i+1])
	}
	return m
}

func num(s string) json.Number { return json.Number(s) }

const fullCE = `{"specversion":"1.0","id":"ce-1","type":"hms.workflow.updated.v1",
"source":"/hms/policy","subject":"wf-9","time":"2025-03-02T10:11:12.5Z",
"entityversion":12,"datacontenttype":"application/json",
"data":{"id":"other","name":"Attorney Rotation"}}`

func TestDecode(t *testing.T) {
	ceTime := time.Date(2025, 3, 2, 10, 11, 12, 500_000_000, time.UTC)
	wf := map[string]any{"id": "wf-1", "name": "Attorney Rotation"}
	tests := []struct {
		name string
		msg  event.Message
		opt  event.Options
		// want holds the fields compared; Body, Header, Subject, Stream
		// and Seq are checked for every case.
		want event.Event
	}{
		{
			name: "plain JSON with Nats-Msg-Id",
			msg:  msg(`{"id":"wf-1","name":"Attorney Rotation"}`, h("Nats-Msg-Id", "module-evt-7")),
			want: event.Event{ID: "module-evt-7", Type: "hms.workflow.updated", Key: "wf-1", Time: stored, Data: wf},
		},
		{
			name: "plain JSON, header name in another case",
			msg:  msg(`{"id":"wf-1","name":"Attorney Rotation"}`, h("nats-msg-id", "module-evt-8")),
			want: event.Event{ID: "module-evt-8", Type: "hms.workflow.updated", Key: "wf-1", Time: stored, Data: wf},
		},
		{
			name: "plain JSON without Nats-Msg-Id falls back to stream:seq",
			msg:  msg(`{"id":"wf-1","name":"Attorney Rotation"}`, nil),
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Key: "wf-1", Time: stored, Data: wf},
		},
		{
			name: "numeric id becomes the key as written",
			msg:  msg(`{"id":42}`, nil),
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Key: "42", Time: stored,
				Data: map[string]any{"id": num("42")}},
		},
		{
			name: "no key field leaves the key empty",
			msg:  msg(`{"name":"x"}`, nil),
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Time: stored,
				Data: map[string]any{"name": "x"}},
		},
		{
			name: "custom dotted key path and numeric version",
			msg:  msg(`{"workflow":{"ref":"wf-2"},"meta":{"rev":3}}`, nil),
			opt:  event.Options{KeyPath: "workflow.ref", VersionPath: "meta.rev"},
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Key: "wf-2", Version: "3", Time: stored,
				Data: map[string]any{"workflow": map[string]any{"ref": "wf-2"}, "meta": map[string]any{"rev": num("3")}}},
		},
		{
			name: "string version",
			msg:  msg(`{"id":"wf-1","version":"2025-03-01.4"}`, nil),
			opt:  event.Options{VersionPath: "version"},
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Key: "wf-1", Version: "2025-03-01.4", Time: stored,
				Data: map[string]any{"id": "wf-1", "version": "2025-03-01.4"}},
		},
		{
			name: "version ignored without a version path",
			msg:  msg(`{"id":"wf-1","version":5}`, nil),
			want: event.Event{ID: "HMS_EVENTS:7", Type: "hms.workflow.updated", Key: "wf-1", Time: stored,
				Data: map[string]any{"id": "wf-1", "version": num("5")}},
		},
		{
			name: "structured CloudEvent",
			msg:  msg(fullCE, h("Content-Type", "application/cloudevents+json", "Nats-Msg-Id", "ignored")),
			want: event.Event{ID: "ce-1", Type: "hms.workflow.updated.v1", Source: "/hms/policy", Key: "wf-9",
				Version: "12", Time: ceTime, CloudEvent: true,
				Data: map[string]any{"id": "other", "name": "Attorney Rotation"}},
		},
		{
			name: "structured CloudEvent without Content-Type (nats pub)",
			msg:  msg(fullCE, nil),
			want: event.Event{ID: "ce-1", Type: "hms.workflow.updated.v1", Source: "/hms/policy", Key: "wf-9",
				Version: "12", Time: ceTime, CloudEvent: true,
				Data: map[string]any{"id": "other", "name": "Attorney Rotation"}},
		},
		{
			name: "structured CloudEvent with string entityversion, no subject: key from data",
			msg: msg(`{"specversion":"1.0","id":"ce-2","source":"/s","entityversion":"v7",
				"data":{"ref":"wf-3"}}`, nil),
			opt: event.Options{KeyPath: "ref", VersionPath: "ignored.because.ce.has.one"},
			want: event.Event{ID: "ce-2", Type: "hms.workflow.updated", Source: "/s", Key: "wf-3", Version: "v7",
				Time: stored, CloudEvent: true, Data: map[string]any{"ref": "wf-3"}},
		},
		{
			name: "structured CloudEvent with data_base64",
			msg: msg(`{"specversion":"1.0","id":"ce-3","type":"t","source":"/s","subject":"wf-4","data_base64":"`+
				base64.StdEncoding.EncodeToString([]byte(`{"id":"wf-4","n":1}`))+`"}`, nil),
			want: event.Event{ID: "ce-3", Type: "t", Source: "/s", Key: "wf-4", Time: stored, CloudEvent: true,
				Data: map[string]any{"id": "wf-4", "n": num("1")}},
		},
		{
			name: "binary mode",
			msg: msg(`{"id":"wf-5","name":"B"}`, h(
				"ce-specversion", "1.0", "ce-id", "bin-1", "ce-type", "hms.workflow.updated.v1",
				"ce-source", "/hms/policy", "ce-subject", "wf-5", "ce-entityversion", "4",
				"ce-time", "2025-03-02T10:11:12.5Z", "Nats-Msg-Id", "ignored")),
			want: event.Event{ID: "bin-1", Type: "hms.workflow.updated.v1", Source: "/hms/policy", Key: "wf-5",
				Version: "4", Time: ceTime, CloudEvent: true, Data: map[string]any{"id": "wf-5", "name": "B"}},
		},
		{
			name: "binary mode, headers in any case, percent-encoded values",
			msg: msg(`{"ref":"unused"}`, h(
				"Ce-Specversion", "1.0", "Ce-Id", "bin%2F2", "CE-TYPE", "hms.x",
				"ce-Source", "%2Fhms%2Fpolicy", "Ce-Subject", "a%2Fb%20c")),
			opt: event.Options{KeyPath: "ref"},
			want: event.Event{ID: "bin/2", Type: "hms.x", Source: "/hms/policy", Key: "a/b c",
				Time: stored, CloudEvent: true, Data: map[string]any{"ref": "unused"}},
		},
		{
			name: "binary mode without ce-subject: key from data",
			msg:  msg(`{"id":"wf-6"}`, h("ce-specversion", "1.0", "ce-id", "bin-3")),
			want: event.Event{ID: "bin-3", Type: "hms.workflow.updated", Key: "wf-6", Time: stored, CloudEvent: true,
				Data: map[string]any{"id": "wf-6"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := event.Decode(tt.msg, tt.opt)
			require.NoError(t, err)
			want := tt.want
			want.Subject, want.Stream, want.Seq = "hms.workflow.updated", "HMS_EVENTS", 7
			want.Body, want.Header = tt.msg.Body, tt.msg.Header
			// DataJSON is the data's own text inside the body, which
			// reads back as Data.
			require.NotNil(t, ev.DataJSON)
			var data map[string]any
			d := json.NewDecoder(bytes.NewReader(ev.DataJSON))
			d.UseNumber()
			require.NoError(t, d.Decode(&data))
			require.Equal(t, ev.Data, data)
			if !tt.want.CloudEvent {
				require.Equal(t, strings.TrimSpace(string(tt.msg.Body)), string(ev.DataJSON), "plain JSON: the whole body")
			}
			want.DataJSON = ev.DataJSON
			require.Equal(t, &want, ev)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	binary := h("ce-specversion", "1.0", "ce-id", "b-1")
	ceJSON := h("Content-Type", "application/cloudevents+json")
	tests := []struct {
		name   string
		msg    event.Message
		opt    event.Options
		reason string // substring of the reason
	}{
		{"invalid JSON", msg(`{"id":`, nil), event.Options{}, "body is not valid JSON"},
		{"empty body", msg(``, nil), event.Options{}, "body is not valid JSON"},
		{"array body", msg(`[{"id":"wf-1"}]`, nil), event.Options{}, "body is a JSON array, want an object"},
		{"string body", msg(`"wf-1"`, nil), event.Options{}, "body is a JSON string, want an object"},
		{"null body", msg(`null`, nil), event.Options{}, "body is a JSON null, want an object"},
		{"two JSON values", msg(`{"id":"a"} {"id":"b"}`, nil), event.Options{}, "data after the JSON value"},
		{"key field that is an object", msg(`{"id":{"a":1}}`, nil), event.Options{}, `field "id"`},
		{"key field that is an array", msg(`{"ref":[1]}`, nil), event.Options{KeyPath: "ref"}, `field "ref"`},
		{"version field that is an object", msg(`{"id":"a","v":{}}`, nil), event.Options{VersionPath: "v"}, `field "v"`},
		{"CE without id", msg(`{"specversion":"1.0","type":"t","data":{"id":"wf-1"}}`, nil), event.Options{}, "no id"},
		{"CE without id, with Content-Type", msg(`{"specversion":"1.0","type":"t","data":{"x":1}}`, ceJSON), event.Options{}, "no id"},
		{"CE data not an object", msg(`{"specversion":"1.0","id":"c","data":[1,2]}`, nil), event.Options{}, "CloudEvent data is a JSON array"},
		{"CE data a string", msg(`{"specversion":"1.0","id":"c","data":"wf-1"}`, nil), event.Options{}, "CloudEvent data is a JSON string"},
		{"CE data null", msg(`{"specversion":"1.0","id":"c","data":null}`, nil), event.Options{}, "CloudEvent data is a JSON null"},
		{"CE without data", msg(`{"specversion":"1.0","id":"c"}`, nil), event.Options{}, "has no data"},
		{"CE data_base64 not base64", msg(`{"specversion":"1.0","id":"c","data_base64":"!!"}`, nil), event.Options{}, "data_base64"},
		{"CE data_base64 not an object", msg(`{"specversion":"1.0","id":"c","data_base64":"WzFd"}`, nil), event.Options{}, "CloudEvent data is a JSON array"},
		{"CE wrong specversion", msg(`{"specversion":"0.3","id":"c","data":{}}`, nil), event.Options{}, `specversion "0.3"`},
		{"CE bad time", msg(`{"specversion":"1.0","id":"c","time":"yesterday","data":{}}`, nil), event.Options{}, `time "yesterday"`},
		{"CE invalid JSON", msg(`{"specversion":"1.0","id":"c",`, ceJSON), event.Options{}, "CloudEvent is not valid JSON"},
		{"CE subject-less, key field an object", msg(`{"specversion":"1.0","id":"c","data":{"id":{}}}`, nil), event.Options{}, `field "id"`},
		{"binary without ce-id", msg(`{}`, h("ce-specversion", "1.0", "ce-type", "t")), event.Options{}, "no ce-id"},
		{"binary wrong specversion", msg(`{}`, h("ce-specversion", "0.3", "ce-id", "b")), event.Options{}, `specversion "0.3"`},
		{"binary array body", msg(`[1]`, binary), event.Options{}, "CloudEvent data is a JSON array"},
		{"binary invalid body", msg(`{`, binary), event.Options{}, "CloudEvent data is not valid JSON"},
		{"binary bad time", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "b", "ce-time", "noon")), event.Options{}, `ce-time "noon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := event.Decode(tt.msg, tt.opt)
			require.Nil(t, ev)
			require.Error(t, err)
			require.ErrorIs(t, err, event.ErrMalformed)
			var me *event.MalformedError
			require.ErrorAs(t, err, &me)
			require.Contains(t, me.Reason, tt.reason)
			require.Equal(t, "malformed event: "+me.Reason, err.Error())
		})
	}
}

// A plain JSON object is only a structured CloudEvent when it says so at
// the top level: a field or value that merely mentions "specversion"
// elsewhere must not turn a valid plain event into a malformed one.
func TestDecodePlainMentioningSpecversion(t *testing.T) {
	tests := []struct{ name, body string }{
		{"value", `{"id":"doc-1","field":"specversion"}`},
		{"nested key", `{"id":"doc-2","schema":{"specversion":"2"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := event.Decode(msg(tt.body, nil), event.Options{})
			require.NoError(t, err)
			require.False(t, ev.CloudEvent)
			require.Equal(t, "HMS_EVENTS:7", ev.ID)
		})
	}
}

// A CloudEvent that lacks its id but whose data has no "id" either must be
// refused like any other CloudEvent without an id, not delivered with the
// whole envelope as data.
func TestDecodeCloudEventWithoutIDIsNotPlain(t *testing.T) {
	ev, err := event.Decode(msg(`{"specversion":"1.0","type":"t","source":"/s","data":{"name":"x"}}`, nil), event.Options{})
	require.ErrorIs(t, err, event.ErrMalformed, "decoded as %+v", ev)
}

func TestLookup(t *testing.T) {
	var data map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"id": "wf-1",
		"assignment": {"judge": {"name": "Okafor", "rank": 2}},
		"items": [{"id": "i-0"}, {"id": "i-1", "tags": ["x", "y"]}],
		"nothing": null,
		"flag": false,
		"": "empty key"
	}`), &data))
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"id", "wf-1", true},
		{"assignment.judge.name", "Okafor", true},
		{"assignment.judge.rank", 2.0, true},
		{"assignment.judge", map[string]any{"name": "Okafor", "rank": 2.0}, true},
		{"items.0.id", "i-0", true},
		{"items.1.tags.1", "y", true},
		{"items.1", map[string]any{"id": "i-1", "tags": []any{"x", "y"}}, true},
		{"nothing", nil, true},
		{"flag", false, true},
		{"", "empty key", true},
		{"missing", nil, false},
		{"assignment.clerk", nil, false},
		{"assignment.judge.name.first", nil, false}, // through a string
		{"id.0", nil, false},
		{"items.2.id", nil, false},
		{"items.-1", nil, false},
		{"items.x", nil, false},
		{"items.01.id", "i-1", true}, // Atoi accepts a leading zero
		{"nothing.x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := event.Lookup(data, tt.path)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}

	_, ok := event.Lookup(nil, "id")
	require.False(t, ok)
}

func TestLookupScalar(t *testing.T) {
	data := map[string]any{"s": "x", "n": json.Number("1.50"), "f": 2.5, "b": true, "o": map[string]any{}, "z": nil}
	for path, want := range map[string]string{"s": "x", "n": "1.50", "f": "2.5", "b": "true"} {
		got, ok, err := event.LookupScalar(data, path)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, want, got)
	}
	for _, path := range []string{"z", "missing"} {
		got, ok, err := event.LookupScalar(data, path)
		require.NoError(t, err)
		require.False(t, ok)
		require.Empty(t, got)
	}
	_, _, err := event.LookupScalar(data, "o")
	require.ErrorIs(t, err, event.ErrMalformed)
}

func TestHeaderValue(t *testing.T) {
	hd := map[string][]string{"Traceparent": {"tp"}, "ce-id": {"a", "b"}, "empty": {}}
	require.Equal(t, "tp", event.HeaderValue(hd, "traceparent"))
	require.Equal(t, "a", event.HeaderValue(hd, "CE-ID"))
	require.Equal(t, "", event.HeaderValue(hd, "empty"))
	require.Equal(t, "", event.HeaderValue(nil, "x"))
}
