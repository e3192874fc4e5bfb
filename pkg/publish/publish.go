package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/telemetry"
)

// ErrInvalid marks a publish refused before sending: a subject outside
// hms., data that is not a JSON object.
var ErrInvalid = errors.New("invalid event")

var tracer = otel.Tracer("github.com/hms/extsync/pkg/publish")

// ContentType marks a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Publisher publishes events for one source (the publishing module).
type Publisher struct {
	js     jetstream.JetStream
	source string
}

// New returns a publisher; source names the module, e.g. "hms/policy".
func New(js jetstream.JetStream, source string) *Publisher {
	return &Publisher{js: js, source: source}
}

type options struct {
	id, key, version, typ string
	header                nats.Header
}

// Option adjusts one publish.
type Option func(*options)

// WithID sets the event id; by default a new UUIDv7.
func WithID(id string) Option { return func(o *options) { o.id = id } }

// WithKey sets the entity key (CloudEvent subject); by default data's "id".
func WithKey(key string) Option { return func(o *options) { o.key = key } }

// WithVersion sets the entity version (CloudEvent extension entityversion).
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithType sets the CloudEvent type; by default the NATS subject.
func WithType(t string) Option { return func(o *options) { o.typ = t } }

// WithHeader adds NATS headers (trace context, for instance).
func WithHeader(h nats.Header) Option { return func(o *options) { o.header = h } }

// envelope is a structured-mode CloudEvent.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	EntityVersion   string          `json:"entityversion,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// encodeEnvelope writes env with data spliced in as its last member:
// json.Marshal of a RawMessage would validate and compact it again, a
// large share of an async publish's cost, and objectJSON has checked it
// once already.
func encodeEnvelope(env envelope, data json.RawMessage) ([]byte, error) {
	head, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+len(data)+9)
	out = append(out, head[:len(head)-1]...) // drop the closing brace
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// Result says where the event was stored.
type Result struct {
	ID        string
	Stream    string
	Seq       uint64
	Duplicate bool // an event with this id was already stored
}

// Publish sends data (a JSON object, as raw JSON or any value that
// encodes to one) to subject and waits for the PubAck.
func (p *Publisher) Publish(ctx context.Context, subject string, data any, opts ...Option) (Result, error) {
	m, id, err := p.message(subject, data, opts)
	if err != nil {
		return Result{}, err
	}
	ctx, span := startSpan(ctx, subject, id, m)
	defer span.End()
	ack, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(id))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return Result{}, fmt.Errorf("publish event %s to %s: %w", id, subject, err)
	}
	return Result{ID: id, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// message builds the structured CloudEvent for one publish.
func (p *Publisher) message(subject string, data any, opts []Option) (*nats.Msg, string, error) {
	if err := checkSubject(subject); err != nil {
		return nil, "", err
	}
	raw, err := objectJSON(data)
	if err != nil {
		return nil, "", fmt.Errorf("%w: publish to %s: %w", ErrInvalid, subject, err)
	}
	o := options{typ: subject}
	for _, opt := range opts {
		opt(&o)
	}
	if o.id == "" {
		o.id = uuid.Must(uuid.NewV7()).String()
	}
	if o.key == "" {
		o.key = defaultKey(data, raw)
	}
	body, err := encodeEnvelope(envelope{
		SpecVersion: "1.0", ID: o.id, Source: p.source, Type: o.typ, Subject: o.key,
		Time: time.Now().UTC().Format(time.RFC3339Nano), DataContentType: "application/json",
		EntityVersion: o.version,
	}, raw)
	if err != nil {
		return nil, "", fmt.Errorf("publish to %s: %w", subject, err)
	}
	m := nats.NewMsg(subject)
	m.Data = body
	for k, v := range o.header {
		m.Header[k] = v
	}
	m.Header.Set("Content-Type", ContentType)
	return m, o.id, nil
}

// startSpan starts the PRODUCER span of one publish and writes its trace
// context into the message headers.
func startSpan(ctx context.Context, subject, id string, m *nats.Msg) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, "send "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(telemetry.SystemNATS, telemetry.MessagingOperationName.String("send"),
			telemetry.MessagingOperationType.String("send"), telemetry.MessagingDestination.String(subject),
			telemetry.MessagingMessageID.String(id)))
	telemetry.Propagator.Inject(ctx, telemetry.HeaderCarrier(m.Header))
	return ctx, span
}

func objectJSON(data any) (json.RawMessage, error) {
	var raw []byte
	switch d := data.(type) {
	case json.RawMessage:
		raw = d
	case []byte:
		raw = d
	case string:
		raw = []byte(d)
	default:
		var err error
		if raw, err = json.Marshal(d); err != nil {
			return nil, fmt.Errorf("encode data: %w", err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, errors.New("data must be a JSON object")
		}
		return raw, nil // Marshal's output is valid JSON: no second scan
	}
	raw = bytes.TrimSpace(raw)
	if !json.Valid(raw) {
		return nil, errors.New("data is not valid JSON")
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errors.New("data must be a JSON object")
	}
	return raw, nil
}

// defaultKey is data's "id", read from the value when the caller passed a
// map (no parse), else from the encoded JSON.
func defaultKey(data any, raw []byte) string {
	if m, ok := data.(map[string]any); ok {
		switch id := m["id"].(type) {
		case string:
			return id
		case nil:
			return ""
		}
	}
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &probe) != nil || len(probe.ID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(probe.ID, &s) == nil {
		return s
	}
	if n := string(probe.ID); n != "null" && !strings.ContainsAny(n, "{[") {
		return n
	}
	return ""
}

// checkSubject accepts a concrete subject under hms.: wildcards would be
// stored as literal subjects, empty tokens are refused by the server late.
func checkSubject(subject string) error {
	toks := strings.Split(subject, ".")
	if len(toks) < 2 || toks[0] != "hms" {
		return fmt.Errorf("%w: subject %q is not under \"hms.\"", ErrInvalid, subject)
	}
	for _, t := range toks {
		if t == "" || t == "*" || t == ">" || strings.ContainsAny(t, " \t\r\n") {
			return fmt.Errorf("%w: subject %q: want dot-separated tokens without wildcards or spaces", ErrInvalid, subject)
		}
	}
	return nil
}
