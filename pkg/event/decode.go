package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	switch {
	case HeaderValue(m.Header, "ce-specversion") != "":
		err = decodeBinary(ev, m, opt)
	case isStructured(m):
		err = decodeStructured(ev, m.Body, opt)
	default:
		err = decodePlain(ev, m, opt)
	}
	if err != nil {
		return nil, err
	}
	if ev.ID == "" {
		ev.ID = fallbackID(m)
	}
	return ev, nil
}

func fallbackID(m Message) string {
	if id := HeaderValue(m.Header, "Nats-Msg-Id"); id != "" {
		return id
	}
	return m.Stream + ":" + strconv.FormatUint(m.Seq, 10)
}

func isStructured(m Message) bool {
	if strings.HasPrefix(HeaderValue(m.Header, "Content-Type"), "application/cloudevents") {
		return true
	}
	// `nats pub` sends no Content-Type; a JSON object with a specversion
	// and an id is a CloudEvent whatever the header says.
	return bytes.Contains(m.Body, []byte(`"specversion"`)) && bytes.Contains(m.Body, []byte(`"id"`))
}

func decodeObject(body []byte, what string) (map[string]any, error) {
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

func decodePlain(ev *Event, m Message, opt Options) error {
	data, err := decodeObject(m.Body, "body")
	if err != nil {
		return err
	}
	ev.Data = data
	ev.ID = HeaderValue(m.Header, "Nats-Msg-Id")
	return keyAndVersion(ev, opt)
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

// structured is the CloudEvents 1.0 JSON format.
type structured struct {
	SpecVersion   string          `json:"specversion"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Source        string          `json:"source"`
	Subject       string          `json:"subject"`
	Time          string          `json:"time"`
	EntityVersion json.RawMessage `json:"entityversion"`
	Data          json.RawMessage `json:"data"`
	DataBase64    string          `json:"data_base64"`
}

func decodeStructured(ev *Event, body []byte, opt Options) error {
	var ce structured
	if err := json.Unmarshal(body, &ce); err != nil {
		return malformed("CloudEvent is not valid JSON: %v", err)
	}
	if ce.SpecVersion != "1.0" {
		return malformed("CloudEvent specversion %q, want \"1.0\"", ce.SpecVersion)
	}
	if ce.ID == "" {
		return malformed("CloudEvent has no id")
	}
	data := []byte(ce.Data)
	if ce.DataBase64 != "" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(ce.DataBase64); err != nil {
			return malformed("CloudEvent data_base64: %v", err)
		}
	}
	if len(data) == 0 {
		return malformed("CloudEvent %q has no data", ce.ID)
	}
	obj, err := decodeObject(data, "CloudEvent data")
	if err != nil {
		return err
	}
	ev.CloudEvent, ev.ID, ev.Source, ev.Data = true, ce.ID, ce.Source, obj
	if ce.Type != "" {
		ev.Type = ce.Type
	}
	ev.Key = ce.Subject
	if len(ce.EntityVersion) > 0 {
		ev.Version = strings.Trim(string(ce.EntityVersion), `"`)
	}
	if ce.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, ce.Time)
		if err != nil {
			return malformed("CloudEvent time %q: %v", ce.Time, err)
		}
		ev.Time = t
	}
	return keyAndVersion(ev, opt)
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
	if v := attr("specversion"); v != "1.0" {
		return malformed("CloudEvent specversion %q, want \"1.0\"", v)
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
			return malformed("CloudEvent ce-time %q: %v", ts, err)
		}
		ev.Time = t
	}
	data, err := decodeObject(m.Body, "CloudEvent data")
	if err != nil {
		return err
	}
	ev.Data = data
	return keyAndVersion(ev, opt)
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
