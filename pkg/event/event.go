package event

import (
	"errors"
	"time"
)

// Event is one platform event as a connector sees it.
type Event struct {
	// ID is the event id: the CloudEvent id, else Nats-Msg-Id, else
	// "<stream>:<seq>". It is the Idempotency-Key of every request.
	ID string
	// Type is the CloudEvent type, or the subject for plain JSON.
	Type string
	// Source is the CloudEvent source; empty for plain JSON.
	Source string
	// Subject is the NATS subject the event was published to.
	Subject string
	// Stream and Seq locate the message in JetStream.
	Stream string
	Seq    uint64
	// Key identifies the entity the event is about; empty when unknown.
	Key string
	// Version is the entity version as text; empty when the event has none.
	Version string
	// Time is when the event happened (CloudEvent time) or was stored.
	Time time.Time
	// Data is the event payload: always a JSON object.
	Data map[string]any
	// DataJSON is Data's JSON text exactly as published (a part of Body,
	// or the decoded data_base64), when the decoder kept it; nil
	// otherwise. A connector can send it instead of encoding Data again.
	DataJSON []byte
	// Body is the message body exactly as published.
	Body []byte
	// Header is the message's NATS headers (trace context among them).
	Header map[string][]string
	// CloudEvent says whether the event came as a CloudEvent.
	CloudEvent bool
}

// ErrMalformed marks an event that cannot be read: bad JSON, data that is
// not an object, a field of the wrong type. Retrying cannot fix it.
var ErrMalformed = errors.New("malformed event")

// MalformedError says why an event could not be read.
type MalformedError struct {
	Reason string
}

func (e *MalformedError) Error() string { return "malformed event: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: sprintf(format, args...)}
}
