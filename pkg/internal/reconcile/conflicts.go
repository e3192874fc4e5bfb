package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
)

// The stream of conflicts parked for a person by the manual rule.
const (
	ConflictStream        = "EXTSYNC_CONFLICTS"
	ConflictSubjectPrefix = "extsync.conflicts."
	// HeaderTake, on a resolved conflict's event sent back through its
	// connector, is the side the person chose: local or merged.
	HeaderTake = "Extsync-Conflict-Take"
)

// Choices of `extsync conflicts resolve --take`.
const (
	TakeLocal  = "local"
	TakeRemote = "remote"
	TakeMerged = "merged"
)

// ErrConflictParked marks an event whose conflict waits for a person.
var ErrConflictParked = errors.New("conflict parked for a person (extsync conflicts ls)")

// ConflictStreamConfig keeps conflicts until they are resolved.
func ConflictStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: ConflictStream, Description: "extsync conflicts parked for a person by the manual rule",
		Subjects: []string{ConflictSubjectPrefix + ">"}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Duplicates: 2 * time.Minute, Replicas: max(replicas, 1),
	}
}

// Conflict is one parked conflict: both versions, the base they share,
// the merge of what does not collide, and the fields that do.
type Conflict struct {
	Seq        uint64         `json:"seq,omitempty"` // in EXTSYNC_CONFLICTS
	Connector  string         `json:"connector"`
	EventID    string         `json:"event_id"`
	Entity     string         `json:"entity"`
	Version    string         `json:"version"`
	Subject    string         `json:"subject"`
	Error      string         `json:"error"`
	Fields     []string       `json:"conflicting_fields"`
	Local      map[string]any `json:"local"`
	Remote     map[string]any `json:"remote"`
	Base       map[string]any `json:"base,omitempty"`
	Merged     map[string]any `json:"merged"`
	RemoteETag string         `json:"remote_etag,omitempty"`
	Parked     time.Time      `json:"parked"`
	// Event is the original message, sent back through the connector
	// when the person takes local or merged.
	EventBody   []byte      `json:"event_body"`
	EventHeader nats.Header `json:"event_header,omitempty"`
}

// Park stores c; its message id makes a repeat (a crash before the ack)
// park it once.
func Park(ctx context.Context, js jetstream.JetStream, c *Conflict, streamSeq uint64) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("conflict of event %s: %w", c.EventID, err)
	}
	id := c.Connector + ":" + strconv.FormatUint(streamSeq, 10) + ":" + c.Version
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: ConflictSubjectPrefix + c.Connector, Data: body},
		jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("park conflict of event %s: %w", c.EventID, err)
	}
	return nil
}

// ListConflicts returns the parked conflicts (of connector, "" for all).
func ListConflicts(ctx context.Context, js jetstream.JetStream, connector string) ([]Conflict, error) {
	o := broker.ScanOptions{}
	if connector != "" {
		o.Filters = []string{ConflictSubjectPrefix + connector}
	}
	var out []Conflict
	err := broker.Scan(ctx, js, ConflictStream, o, func(m jetstream.Msg) error {
		var c Conflict
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			return nil // not ours to show
		}
		meta, err := m.Metadata()
		if err == nil {
			c.Seq = meta.Sequence.Stream
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// RemoveConflict deletes a resolved conflict.
func RemoveConflict(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	st, err := js.Stream(ctx, ConflictStream)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("remove conflict %d: %w", seq, err)
	}
	return nil
}
