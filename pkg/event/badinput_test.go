package event_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/event"
)

func requireMalformed(t *testing.T, m event.Message, reason string) *event.MalformedError {
	t.Helper()
	ev, err := event.Decode(m, event.Options{})
	require.Nil(t, ev)
	require.ErrorIs(t, err, event.ErrMalformed)
	var me *event.MalformedError
	require.ErrorAs(t, err, &me)
	require.Contains(t, me.Reason, reason)
	return me
}

// CloudEvents attributes are Unicode strings without control characters
// (CloudEvents 1.0, type system). The id travels on as the Idempotency-Key
// header and in log lines, where a CR or LF would start a header or line of
// its own: such an event is malformed, parked at once.
func TestDecodeRefusesControlCharactersInAttributes(t *testing.T) {
	ce := func(attr, value string) string {
		return `{"specversion":"1.0","id":"c-1","source":"/s",` + `"` + attr + `":"` + value + `","data":{}}`
	}
	tests := []struct {
		name   string
		msg    event.Message
		reason string
	}{
		{"structured id with CRLF", msg(ce("id", `a\r\nX-Injected: 1`), nil), "CloudEvent id has the control character U+000D at byte 1"},
		{"structured id with NUL", msg(ce("id", `a\u0000`), nil), "CloudEvent id has the control character U+0000"},
		{"structured source with DEL", msg(ce("source", "/s\x7f"), nil), "CloudEvent source has the control character U+007F"},
		{"structured type with a C1 control", msg(ce("type", `t\u0085`), nil), "CloudEvent type has the control character U+0085"},
		{"structured subject with LF", msg(ce("subject", `wf\n1`), nil), "CloudEvent subject has the control character U+000A"},
		{"binary id with encoded CRLF", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "a%0D%0AX-Injected:%201")), "CloudEvent id has the control character U+000D"},
		{"binary subject with encoded NUL", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "b", "ce-subject", "wf%00")), "CloudEvent subject has the control character U+0000"},
		{"binary id not UTF-8", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "a\xffb")), "CloudEvent id is not valid UTF-8"},
		{"binary id encoding non-UTF-8", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "a%FFb")), "CloudEvent id is not valid UTF-8"},
		{"binary source with tab", msg(`{}`, h("ce-specversion", "1.0", "ce-id", "b", "ce-source", "/s%09x")), "CloudEvent source has the control character U+0009"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me := requireMalformed(t, tt.msg, tt.reason)
			require.NotContains(t, me.Reason, "X-Injected", "the reason echoes the value")
		})
	}
}

func TestDecodeKeepsUnicodeAttributes(t *testing.T) {
	ev, err := event.Decode(msg(`{"specversion":"1.0","id":"évt-☃-1","source":"/gerichte/straße","subject":"Akte 7/2025","data":{}}`, nil), event.Options{})
	require.NoError(t, err)
	require.Equal(t, "évt-☃-1", ev.ID)
	require.Equal(t, "/gerichte/straße", ev.Source)
	require.Equal(t, "Akte 7/2025", ev.Key)

	ev, err = event.Decode(msg(`{}`, h("ce-specversion", "1.0", "ce-id", "%C3%A9vt-1", "ce-subject", "Akte%207%2F2025")), event.Options{})
	require.NoError(t, err)
	require.Equal(t, "évt-1", ev.ID)
	require.Equal(t, "Akte 7/2025", ev.Key)
}

// Invalid UTF-8 inside a JSON string is read as U+FFFD (encoding/json);
// outside a string it is not JSON.
func TestDecodeNonUTF8Body(t *testing.T) {
	ev, err := event.Decode(msg("{\"id\":\"wf-\xff\",\"name\":\"\xc3\x28\"}", nil), event.Options{})
	require.NoError(t, err)
	require.Equal(t, "wf-\uFFFD", ev.Key)
	require.Equal(t, "\uFFFD(", ev.Data["name"])

	requireMalformed(t, msg("{\"id\":1,\xff:2}", nil), "body is not valid JSON")
	requireMalformed(t, msg("\xfe\xff{}", nil), "body is not valid JSON")
}

// encoding/json stops at 10000 levels of nesting; anything deeper is
// malformed, not a stack overflow.
func TestDecodeDeepNesting(t *testing.T) {
	nested := func(depth int) string {
		return `{"id":"wf-1","d":` + strings.Repeat(`[`, depth) + strings.Repeat(`]`, depth) + `}`
	}
	ev, err := event.Decode(msg(nested(9000), nil), event.Options{})
	require.NoError(t, err)
	require.Equal(t, "wf-1", ev.Key)

	requireMalformed(t, msg(nested(10_001), nil), "exceeded max depth")
	requireMalformed(t, msg(`{"specversion":"1.0","id":"c","data":`+nested(100_000)+`}`, nil), "exceeded max depth")
	deep := strings.Repeat(`{"a":`, 20_000) + `1` + strings.Repeat(`}`, 20_000)
	requireMalformed(t, msg(deep, h("ce-specversion", "1.0", "ce-id", "b")), "exceeded max depth")
}

const mib = 1 << 20

// Events of 1 MiB (the NATS default max_payload) decode whole; a broken
// one is malformed with a short reason, not one the size of the event.
func TestDecodeLargeEvents(t *testing.T) {
	big := strings.Repeat("x", mib)
	ev, err := event.Decode(msg(`{"id":"wf-1","blob":"`+big+`"}`, nil), event.Options{})
	require.NoError(t, err)
	require.Equal(t, big, ev.Data["blob"])

	data := `{"id":"wf-2","blob":"` + strings.Repeat("y", 3*mib/4-32) + `"}`
	ev, err = event.Decode(msg(`{"specversion":"1.0","id":"c-2","data_base64":"`+
		base64.StdEncoding.EncodeToString([]byte(data))+`"}`, nil), event.Options{})
	require.NoError(t, err)
	require.Equal(t, "wf-2", ev.Key)
	require.Len(t, ev.Data["blob"], 3*mib/4-32)

	ev, err = event.Decode(msg(`{"specversion":"1.0","id":"`+big+`","data":{}}`, nil), event.Options{})
	require.NoError(t, err, "a long id is still an id")
	require.Len(t, ev.ID, mib)

	for name, m := range map[string]event.Message{
		"truncated":        msg(`{"id":"wf-1","blob":"`+big, nil),
		"long specversion": msg(`{"specversion":"`+big+`","id":"c","data":{}}`, nil),
		"long time":        msg(`{"specversion":"1.0","id":"c","time":"`+big+`","data":{}}`, nil),
		"long ce-time":     msg(`{}`, h("ce-specversion", "1.0", "ce-id", "b", "ce-time", big)),
		"long bad base64":  msg(`{"specversion":"1.0","id":"c","data_base64":"!`+big+`"}`, nil),
		"long id, no data": msg(`{"specversion":"1.0","id":"`+big+`"}`, nil),
	} {
		me := requireMalformed(t, m, "")
		require.Less(t, len(me.Reason), 200, "%s: reason of %d bytes", name, len(me.Reason))
	}
}
