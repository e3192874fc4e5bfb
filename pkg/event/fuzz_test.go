package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hms/extsync/pkg/event"
)

// fuzzSeeds are messages in every mode, well formed and not: binary and
// structured CloudEvents, plain JSON, and the ways each goes wrong.
var fuzzSeeds = []struct {
	body                                              string
	spec, id, subject, ts, msgID, ctype, key, version string
}{
	{body: `{"id":"wf-1","name":"x"}`, msgID: "m-1"},
	{body: `{"id":42,"meta":{"rev":3}}`, key: "id", version: "meta.rev"},
	{body: `{"workflow":{"ref":"wf-2"}}`, key: "workflow.ref"},
	{body: `{"items":[{"id":"x"}]}`, key: "items.0.id", version: "items.0"},
	{body: fullCE},
	{body: fullCE, ctype: "application/cloudevents+json"},
	{body: `{"specversion":"1.0","id":"c","data_base64":"eyJpZCI6MX0="}`},
	{body: `{"specversion":"1.0","id":"c","data":[1]}`},
	{body: `{"specversion":"1.0","id":"c","data":"text"}`},
	{body: `{"specversion":"1.0","id":"","data":{}}`},
	{body: `{"specversion":"1.0","type":"t","data":{"id":"x"}}`},
	{body: `{"specversion":1.0,"id":"c","data":{}}`},
	{body: `{"specversion":"0.3","id":"c","data":{}}`},
	{body: `{"specversion":"1.0","id":7,"data":{}}`},
	{body: `{"specversion":"1.0","id":"a\r\nX-Injected: 1","data":{}}`},
	{body: `{"specversion":"1.0","id":"c","time":"2025-13-40T25:61:61Z","data":{}}`},
	{body: `{"specversion":"1.0","id":"c","entityversion":1e999,"data":{}}`},
	{body: `{"id":"x"}`, ctype: "application/cloudevents-batch+json"},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: "bin-1", subject: "wf-5", ts: "2025-03-02T10:11:12.5Z"},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: "a%2Fb", subject: "a%20b%"},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: ""},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: "a%0D%0AX-Injected:%201"},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: "\xff\xfe"},
	{body: `{"id":"wf-5"}`, spec: "0.3", id: "b"},
	{body: `{"id":"wf-5"}`, spec: "1.0", id: "b", ts: "noon"},
	{body: `[1,2]`, spec: "1.0", id: "b"},
	{body: `[1,2]`},
	{body: `{"id":{"a":1}}`},
	{body: `{"id":`},
	{body: "{\"id\":\"\xff\xfe\"}"},
	{body: ``},
	{body: `{"id":"a"} {"id":"b"}`},
	{body: `{"id":"x","d":` + strings.Repeat(`[`, 10_001) + strings.Repeat(`]`, 10_001) + `}`},
}

// FuzzDecode checks that Decode never panics, that every failure is a
// short one-line MalformedError, and that every event it returns is
// consistent with the message: the CloudEvent attributes as sent and fit
// for an HTTP header, the key and version where the options say, data
// that can be sent on as JSON. Run it with
//
//	go test -run x -fuzz FuzzDecode -fuzztime 20s ./pkg/event
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.body), s.spec, s.id, s.subject, s.ts, s.msgID, s.ctype, s.key, s.version)
	}
	f.Fuzz(func(t *testing.T, body []byte, spec, id, subject, ts, msgID, ctype, keyPath, versionPath string) {
		header := map[string][]string{}
		for k, v := range map[string]string{"ce-specversion": spec, "ce-id": id, "ce-subject": subject,
			"ce-time": ts, "Nats-Msg-Id": msgID, "Content-Type": ctype} {
			if v != "" {
				header[k] = []string{v}
			}
		}
		m := event.Message{Subject: "hms.x.y", Stream: "HMS_EVENTS", Seq: 1, Time: stored, Header: header, Body: body}
		opt := event.Options{KeyPath: keyPath, VersionPath: versionPath}
		ev, err := event.Decode(m, opt)
		if err != nil {
			checkFailure(t, ev, err)
			return
		}
		again, _ := event.Decode(m, opt)
		if !reflect.DeepEqual(ev, again) {
			t.Fatalf("Decode is not deterministic:\n%+v\n%+v", ev, again)
		}
		checkEvent(t, m, opt, ev)
	})
}

func checkFailure(t *testing.T, ev *event.Event, err error) {
	t.Helper()
	var me *event.MalformedError
	if ev != nil || !errors.Is(err, event.ErrMalformed) || !errors.As(err, &me) {
		t.Fatalf("failure %v (%T) with event %v: want a *MalformedError and no event", err, err, ev)
	}
	if me.Reason == "" || len(me.Reason) > 200 || strings.ContainsAny(me.Reason, "\r\n") {
		t.Fatalf("reason %q: want one line of at most 200 bytes", me.Reason)
	}
}

func checkEvent(t *testing.T, m event.Message, opt event.Options, ev *event.Event) {
	t.Helper()
	if ev.Subject != m.Subject || ev.Stream != m.Stream || ev.Seq != m.Seq ||
		!bytes.Equal(ev.Body, m.Body) || !reflect.DeepEqual(ev.Header, m.Header) {
		t.Fatalf("event %+v does not locate message %+v", ev, m)
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil {
		t.Fatalf("event without id, type or data: %+v", ev)
	}
	if _, err := json.Marshal(ev.Data); err != nil {
		t.Fatalf("data cannot be sent on: %v", err)
	}
	if event.HeaderValue(m.Header, "ce-specversion") != "" {
		checkBinary(t, m, ev)
	}
	if !ev.CloudEvent {
		checkPlain(t, m, opt, ev)
		return
	}
	for name, v := range map[string]string{"id": ev.ID, "type": ev.Type, "source": ev.Source} {
		if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
			t.Fatalf("CloudEvent %s %q is not a header-safe string", name, v)
		}
	}
}

// checkBinary: the attributes are the ce-* headers, percent-decoded.
func checkBinary(t *testing.T, m event.Message, ev *event.Event) {
	t.Helper()
	attr := func(name string) string {
		v := event.HeaderValue(m.Header, "ce-"+name)
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
		return v
	}
	if !ev.CloudEvent || ev.ID != attr("id") || (attr("subject") != "" && ev.Key != attr("subject")) {
		t.Fatalf("binary CloudEvent %+v does not hold its ce-* headers %v", ev, m.Header)
	}
	if ts := attr("time"); ts != "" {
		want, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !want.Equal(ev.Time) {
			t.Fatalf("ce-time %q read as %v", ts, ev.Time)
		}
	}
}

// checkPlain: the id comes from the headers, key and version from the
// data at the configured paths.
func checkPlain(t *testing.T, m event.Message, opt event.Options, ev *event.Event) {
	t.Helper()
	keyPath := opt.KeyPath
	if keyPath == "" {
		keyPath = "id"
	}
	key, _, _ := event.LookupScalar(ev.Data, keyPath)
	version := ""
	if opt.VersionPath != "" {
		version, _, _ = event.LookupScalar(ev.Data, opt.VersionPath)
	}
	if ev.ID != event.MessageID(m.Header, m.Stream, m.Seq) || ev.Key != key || ev.Version != version ||
		ev.Type != m.Subject || ev.Source != "" || !ev.Time.Equal(m.Time) {
		t.Fatalf("plain event %+v: want id %q, key %q, version %q from %+v", ev, event.MessageID(m.Header, m.Stream, m.Seq), key, version, m)
	}
}
