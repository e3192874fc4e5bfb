package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is a stored JetStream message, before decoding.
type Message struct {
	Subject string
	Stream  string
	Seq     uint64
	Time    time.Time
	Header  map[string][]string
	Body    []byte
}

// Options say where a connector finds the entity key and version in plain
// JSON events. Empty paths mean "id" for the key and no version.
type Options struct {
	KeyPath     string
	VersionPath string
}

// Decode reads m as a CloudEvent in binary mode (ce-* headers), a
// structured CloudEvent, or a plain JSON object, in that order.
func Decode(m Message, opt Options) (*Event, error) {
	ev := &Event{
		Subject: m.Subject, Stream: m.Stream, Seq: m.Seq, Time: m.Time,
		Header: m.Header, Body: m.Body, Type: m.Subject,
	}
	var err error
	if HeaderValue(m.Header, "ce-specversion") != "" {
		err = decodeBinary(ev, m, opt)
	} else {
		err = decodeBody(ev, m, opt)
	}
	if err != nil {
		return nil, err
	}
	if ev.ID == "" {
		ev.ID = MessageID(m.Header, m.Stream, m.Seq)
	}
	return ev, nil
}

// MessageID is the id of an event that carries none of its own (plain
// JSON): Extsync-Event-Id, else Nats-Msg-Id, else "<stream>:<seq>".
func MessageID(h map[string][]string, stream string, seq uint64) string {
	// A replayed dead letter carries its event's id: its own message id
	// and stream sequence are the replay's, not the event's.
	if id := HeaderValue(h, "Extsync-Event-Id"); id != "" {
		return id
	}
	if id := HeaderValue(h, "Nats-Msg-Id"); id != "" {
		return id
	}
	return stream + ":" + strconv.FormatUint(seq, 10)
}

// decodeBody parses the body once and reads it as a structured CloudEvent
// when it says so (Content-Type, or a top-level specversion, as `nats pub`
// sends no Content-Type), else as plain JSON.
func decodeBody(ev *Event, m Message, opt Options) error {
	ceType := strings.HasPrefix(HeaderValue(m.Header, "Content-Type"), "application/cloudevents")
	what := "body"
	if ceType {
		what = "CloudEvent"
	}
	obj, member, fast, err := decodeObjectText(m.Body, what)
	if err != nil {
		return err
	}
	if _, ok := obj["specversion"]; ok || ceType {
		return decodeStructured(ev, obj, member, opt)
	}
	ev.Data = obj
	if fast {
		ev.DataJSON = bytes.TrimSpace(m.Body)
	}
	return keyAndVersion(ev, opt) // the id comes from the headers (fallbackID)
}

// decodeObjectText reads body as a JSON object, naming it what in errors.
// fast says the fast path read it; only then is member, the text of its
// "data" member, known.
func decodeObjectText(body []byte, what string) (obj map[string]any, member []byte, fast bool, err error) {
	if obj, member, ok := parseObject(body); ok {
		return obj, member, true, nil
	}
	obj, err = decodeSlow(body, what)
	return obj, nil, false, err
}

// dataObject reads raw as a CloudEvent's data object; text is raw
// itself, trimmed, when the fast path read it (nil otherwise).
func dataObject(raw []byte) (obj map[string]any, text []byte, err error) {
	obj, _, fast, err := decodeObjectText(raw, "CloudEvent data")
	if err != nil || !fast {
		return obj, nil, err
	}
	return obj, bytes.TrimSpace(raw), nil
}

// decodeSlow is encoding/json's reading, and its errors.
func decodeSlow(body []byte, what string) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, malformed("%s is not valid JSON: %v", what, err)
	}
	if d.More() {
		return nil, malformed("%s has data after the JSON value", what)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, malformed("%s is a JSON %s, want an object", what, jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}

func keyAndVersion(ev *Event, opt Options) error {
	keyPath := opt.KeyPath
	if keyPath == "" {
		keyPath = "id"
	}
	var err error
	if ev.Key == "" {
		if ev.Key, _, err = LookupScalar(ev.Data, keyPath); err != nil {
			return err
		}
	}
	if ev.Version == "" && opt.VersionPath != "" {
		if ev.Version, _, err = LookupScalar(ev.Data, opt.VersionPath); err != nil {
			return err
		}
	}
	return nil
}

// decodeStructured reads the CloudEvents 1.0 JSON format from the parsed
// envelope.
func decodeStructured(ev *Event, ce map[string]any, member []byte, opt Options) error {
	attr := func(name string) (string, error) {
		switch v := ce[name].(type) {
		case nil:
			return "", nil
		case string:
			return v, checkAttr(name, v)
		case json.Number:
			if name == "entityversion" {
				return v.String(), nil
			}
		}
		return "", malformed("CloudEvent %s is a JSON %s, want a string", name, jsonKind(ce[name]))
	}
	var a [7]string
	for i, name := range []string{"specversion", "id", "type", "source", "subject", "time", "entityversion"} {
		v, err := attr(name)
		if err != nil {
			return err
		}
		a[i] = v
	}
	spec, id, typ, source, subject, ts, version := a[0], a[1], a[2], a[3], a[4], a[5], a[6]
	if spec != "1.0" {
		return malformed("CloudEvent specversion %s, want \"1.0\"", quote(spec))
	}
	if id == "" {
		return malformed("CloudEvent has no id")
	}
	data, text, err := structuredData(ce, member, id)
	if err != nil {
		return err
	}
	ev.DataJSON = text
	ev.CloudEvent, ev.ID, ev.Source, ev.Data, ev.Key, ev.Version = true, id, source, data, subject, version
	if typ != "" {
		ev.Type = typ
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return malformed("CloudEvent time %s: not an RFC 3339 time", quote(ts))
		}
		ev.Time = t
	}
	return keyAndVersion(ev, opt)
}

// structuredData is a structured CloudEvent's data object and, when it
// is known, its JSON text (member is the envelope's "data" member text).
func structuredData(ce map[string]any, member []byte, id string) (map[string]any, []byte, error) {
	if b64, ok := ce["data_base64"].(string); ok && b64 != "" {
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, nil, malformed("CloudEvent data_base64: %v", err)
		}
		return dataObject(raw)
	}
	v, ok := ce["data"]
	if !ok {
		return nil, nil, malformed("CloudEvent %s has no data", quote(id))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, malformed("CloudEvent data is a JSON %s, want an object", jsonKind(v))
	}
	return obj, member, nil
}

// decodeBinary reads the CloudEvents NATS binding's binary mode, where the
// attributes travel as percent-encoded ce-* headers and the body is data.
func decodeBinary(ev *Event, m Message, opt Options) error {
	attr := func(name string) string {
		v := HeaderValue(m.Header, "ce-"+name)
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
		return v
	}
	for _, name := range []string{"specversion", "id", "type", "source", "subject", "time", "entityversion"} {
		if err := checkAttr(name, attr(name)); err != nil {
			return err
		}
	}
	if v := attr("specversion"); v != "1.0" {
		return malformed("CloudEvent specversion %s, want \"1.0\"", quote(v))
	}
	ev.CloudEvent, ev.ID, ev.Source, ev.Key, ev.Version = true, attr("id"), attr("source"), attr("subject"), attr("entityversion")
	if ev.ID == "" {
		return malformed("CloudEvent has no ce-id header")
	}
	if t := attr("type"); t != "" {
		ev.Type = t
	}
	if ts := attr("time"); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return malformed("CloudEvent ce-time %s: not an RFC 3339 time", quote(ts))
		}
		ev.Time = t
	}
	var err error
	if ev.Data, ev.DataJSON, err = dataObject(m.Body); err != nil {
		return err
	}
	return keyAndVersion(ev, opt)
}

// checkAttr holds a CloudEvent attribute to the spec's String type:
// Unicode without control characters. An id with a newline could be
// neither an HTTP header (the Idempotency-Key) nor one log line.
func checkAttr(name, v string) error {
	if !utf8.ValidString(v) {
		return malformed("CloudEvent %s is not valid UTF-8", name)
	}
	for i, r := range v {
		if unicode.IsControl(r) {
			return malformed("CloudEvent %s has the control character %U at byte %d", name, r, i)
		}
	}
	return nil
}

// quote quotes a value for a reason, cut short: the reason is logged and
// kept with the dead letter, and a value can be as long as the event.
func quote(v string) string {
	const limit = 64
	if len(v) <= limit {
		return strconv.Quote(v)
	}
	return strconv.Quote(strings.ToValidUTF8(v[:limit], "")) + "..."
}

// HeaderValue returns the first value of a header, matching the name
// case-insensitively: NATS headers are case-sensitive, but producers differ
// in how they spell traceparent or ce-id.
func HeaderValue(h map[string][]string, name string) string {
	if v, ok := h[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}
