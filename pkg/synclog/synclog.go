package synclog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject prefix of the sync log.
const (
	Stream        = "EXTSYNC_LOG"
	SubjectPrefix = "extsync.log."
)

// StreamConfig bounds the log by age and size: it is a record for
// operators, not a queue, so old records may go.
func StreamConfig(maxAge time.Duration, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "extsync sync log: one record per delivery attempt",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      maxAge,
		MaxBytes:    1 << 30,
		Discard:     jetstream.DiscardOld,
		Replicas:    max(replicas, 1),
	}
}

// OperationDelete marks a deletion's record: the entity is gone, and the
// attempt removed (or tried to remove) the system's record.
const OperationDelete = "delete"

// Record is one attempt to deliver one event through one connector.
type Record struct {
	Time      time.Time `json:"time"`
	Connector string    `json:"connector"`
	EventID   string    `json:"event_id"`
	Subject   string    `json:"subject"`
	StreamSeq uint64    `json:"stream_seq"`
	Entity    string    `json:"entity,omitempty"`
	Version   string    `json:"version,omitempty"`
	// Operation is what the attempt asked of the system: OperationDelete
	// for a deletion, empty for a write (create or update).
	Operation string `json:"operation,omitempty"`
	Attempt   int    `json:"attempt"`
	// Outcome is delivered, retry, dead-lettered or conflict-skipped.
	Outcome string `json:"outcome"`
	// Status is the external system's status code, when it answered.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Duration of the attempt, and the wait before the next one.
	DurationMS float64 `json:"duration_ms"`
	RetryInMS  int64   `json:"retry_in_ms,omitempty"`
	TraceID    string  `json:"trace_id,omitempty"`
	// MappingVersion names the mapping the attempt was sent with.
	MappingVersion string `json:"mapping_version,omitempty"`
	// ReplayOf is the dead letter (its EXTSYNC_DLQ sequence) this attempt
	// replays, and Actor who asked for the replay.
	ReplayOf uint64 `json:"replay_of,omitempty"`
	// Actor, Action and Count describe an operator's action (outcome
	// "admin"): who, what, on how many events.
	Actor  string `json:"actor,omitempty"`
	Action string `json:"action,omitempty"`
	Count  int    `json:"count,omitempty"`
}

// Writer appends records.
type Writer struct {
	js jetstream.JetStream
}

// NewWriter returns a writer on js.
func NewWriter(js jetstream.JetStream) *Writer { return &Writer{js: js} }

// Append stores r and returns once JetStream has acknowledged it, so an
// outcome is durable before the message it describes is acked.
func (w *Writer) Append(ctx context.Context, r *Record) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sync log record: %w", err)
	}
	if _, err := w.js.PublishMsg(ctx, &nats.Msg{Subject: SubjectPrefix + r.Connector, Data: body}); err != nil {
		return fmt.Errorf("sync log for connector %q: %w", r.Connector, err)
	}
	return nil
}

// AppendAsync hands records to JetStream as one message, without
// waiting: the future reports when they are stored. The pipeline groups
// the outcomes that finished together, so a busy connector stores one log
// message per group rather than per delivery, and acks each message only
// once its group's future resolves. All records are of one connector.
func (w *Writer) AppendAsync(recs []*Record) (jetstream.PubAckFuture, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("sync log: no records")
	}
	body, err := Encode(recs)
	if err != nil {
		return nil, err
	}
	f, err := w.js.PublishMsgAsync(&nats.Msg{Subject: SubjectPrefix + recs[0].Connector, Data: body})
	if err != nil {
		return nil, fmt.Errorf("sync log for connector %q: %w", recs[0].Connector, err)
	}
	return f, nil
}

// Encode writes records as JSON Lines, the payload of a sync log message.
func Encode(recs []*Record) ([]byte, error) {
	b := make([]byte, 0, 320*len(recs))
	var err error
	for _, r := range recs {
		if b, err = appendRecord(b, r); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Decode reads the records of one sync log message: one JSON object per
// line (a message written by Append holds one).
func Decode(data []byte) ([]Record, error) {
	var out []Record
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return out, fmt.Errorf("sync log record %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
