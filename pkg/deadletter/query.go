package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
)

// Filter selects dead letters; zero fields select everything.
type Filter struct {
	Connector string
	// Since and Until bound when the letter was parked.
	Since, Until time.Time
	// IDs are event ids, or dead-letter sequence numbers in EXTSYNC_DLQ.
	IDs []string
	// Status is permanent or exhausted.
	Status string
	// Reason keeps letters whose reason contains it (case-insensitive).
	Reason string
}

// Entry is one parked dead letter as the tools show it.
type Entry struct {
	Seq          uint64    `json:"seq"`
	Connector    string    `json:"connector"`
	Subject      string    `json:"subject"`
	EventID      string    `json:"event_id"`
	Attempts     int       `json:"attempts"`
	Status       string    `json:"status"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Reason       string    `json:"reason"`
	Parked       time.Time `json:"parked"`
	FirstAttempt time.Time `json:"first_attempt"`
	LastAttempt  time.Time `json:"last_attempt"`
	// ReplayOf is the dead letter this one's event was replayed from: the
	// replay failed again and was parked anew.
	ReplayOf uint64      `json:"replay_of,omitempty"`
	Header   nats.Header `json:"header,omitempty"`
	Body     []byte      `json:"body,omitempty"`
}

// List calls fn for every dead letter f selects, oldest first.
func List(ctx context.Context, js jetstream.JetStream, f Filter, fn func(Entry) error) error {
	o := broker.ScanOptions{Since: f.Since}
	if f.Connector != "" {
		o.Filters = []string{SubjectPrefix + f.Connector}
	}
	return broker.Scan(ctx, js, Stream, o, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		e := entryOf(meta.Sequence.Stream, meta.Timestamp, m.Headers(), m.Data())
		if !f.Until.IsZero() && e.Parked.After(f.Until) {
			return broker.ErrStopScan // stored in time order: nothing later matches
		}
		if f.matches(e) {
			return fn(e)
		}
		return nil
	})
}

// Collect returns every dead letter f selects.
func Collect(ctx context.Context, js jetstream.JetStream, f Filter) ([]Entry, error) {
	var out []Entry
	err := List(ctx, js, f, func(e Entry) error { out = append(out, e); return nil })
	return out, err
}

// ErrNotFound marks an id or sequence that names no dead letter.
var ErrNotFound = errors.New("not found")

func entryOf(seq uint64, parked time.Time, h nats.Header, body []byte) Entry {
	e := Entry{
		Seq: seq, Parked: parked.UTC(), Header: h, Body: body,
		Connector: h.Get(HeaderConnector), Subject: h.Get(HeaderSubject), EventID: h.Get(HeaderEventID),
		Status: h.Get(HeaderStatus), Reason: h.Get(HeaderError),
	}
	e.Attempts, _ = strconv.Atoi(h.Get(HeaderAttempts))
	e.HTTPStatus, _ = strconv.Atoi(h.Get(HeaderHTTPStatus))
	e.ReplayOf, _ = strconv.ParseUint(h.Get(HeaderReplayOf), 10, 64)
	e.FirstAttempt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderFirstAttempt))
	e.LastAttempt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderLastAttempt))
	return e
}

func (f Filter) matches(e Entry) bool {
	switch {
	case f.Status != "" && e.Status != f.Status:
		return false
	case f.Reason != "" && !strings.Contains(strings.ToLower(e.Reason), strings.ToLower(f.Reason)):
		return false
	case len(f.IDs) == 0:
		return true
	}
	seq := strconv.FormatUint(e.Seq, 10)
	for _, id := range f.IDs {
		if id == e.EventID || id == seq {
			return true
		}
	}
	return false
}

// Select returns the dead letters f selects, oldest first. An id of f
// that names none of them is ErrNotFound, so a typo is not mistaken for
// "already replayed".
func Select(ctx context.Context, js jetstream.JetStream, f Filter) ([]Entry, error) {
	entries, err := Collect(ctx, js, f)
	if err != nil {
		return nil, err
	}
	for _, id := range f.IDs {
		if !slices.ContainsFunc(entries, func(e Entry) bool {
			return e.EventID == id || strconv.FormatUint(e.Seq, 10) == id
		}) {
			return nil, fmt.Errorf("%w: no dead letter with id or sequence %q matches; nothing was changed", ErrNotFound, id)
		}
	}
	return entries, nil
}

// prefix says f selects, for each connector, every dead letter from the
// first on (up to Until): then the selection can be removed with one
// purge per connector.
func (f Filter) prefix() bool {
	return f.Since.IsZero() && len(f.IDs) == 0 && f.Status == "" && f.Reason == ""
}

// Purge deletes the dead letters f selects and returns how many it
// deleted, by connector.
func Purge(ctx context.Context, js jetstream.JetStream, f Filter) (map[string]int, error) {
	entries, err := Select(ctx, js, f)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	refs := make([]letterRef, len(entries))
	for i, e := range entries {
		refs[i] = letterRef{e.Seq, e.Connector}
	}
	removed, err := removeLetters(ctx, st, refs, f.prefix())
	if err != nil {
		return removed, fmt.Errorf("purge: %w", err)
	}
	return removed, nil
}

// ReplayItems turns entries into what Replayer sends, with mapping
// (MappingOriginal or MappingCurrent, "" meaning current).
func ReplayItems(entries []Entry, mapping string) []ReplayItem {
	items := make([]ReplayItem, len(entries))
	for i, e := range entries {
		items[i] = ReplayItem{Seq: e.Seq, Connector: e.Connector, Header: e.Header, Body: e.Body, Mapping: mapping}
	}
	return items
}

// CheckConnectors fails unless every connector of entries still has its
// replay consumer: a replay to a connector that no longer runs would sit
// in the replay stream with no one to take it.
func CheckConnectors(ctx context.Context, js jetstream.JetStream, entries []Entry) error {
	// With the connector store, a connector exists while its entry does.
	kv, kvErr := js.KeyValue(ctx, registryBucket)
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.Connector] {
			continue
		}
		seen[e.Connector] = true
		if kvErr == nil {
			if _, err := kv.Get(ctx, e.Connector); errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("%w: connector %q is not in the connector store (extsync connectors ls); nothing was replayed",
					ErrNoConnector, e.Connector)
			}
		}
		_, err := js.Consumer(ctx, ReplayStream, "extsync-"+e.Connector+"-replay")
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("%w: connector %q has no replay consumer (extsync-%s-replay): it was removed or never ran; "+
				"nothing was replayed", ErrNoConnector, e.Connector, e.Connector)
		}
		if err != nil {
			return fmt.Errorf("connector %q: %w", e.Connector, err)
		}
	}
	return nil
}

// registryBucket is connstore.Bucket (not imported: the connector store depends
// on config and the connector kinds, dead letters need none of that).
const registryBucket = "extsync_connectors"

// ErrNoConnector marks a replay to a connector that does not exist.
var ErrNoConnector = errors.New("unknown connector")

// CheckConnector returns ErrNoConnector when name is neither in the
// connector store nor has a dead letter, so a misspelt --connector fails
// rather than selecting nothing. A connector removed from the store whose
// letters are still parked is known: its letters can be listed and purged.
func CheckConnector(ctx context.Context, js jetstream.JetStream, name string) error {
	if kv, err := js.KeyValue(ctx, registryBucket); err == nil {
		if _, err := kv.Get(ctx, name); err == nil {
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("connector store: %w", err)
		}
	}
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return fmt.Errorf("%s: %w", Stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+name))
	if err != nil {
		return fmt.Errorf("%s: %w", Stream, err)
	}
	if info.State.Subjects[SubjectPrefix+name] > 0 {
		return nil
	}
	return fmt.Errorf("%w %q: not in the connector store (extsync connectors ls) and no dead letters", ErrNoConnector, name)
}
