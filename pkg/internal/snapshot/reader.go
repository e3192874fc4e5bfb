package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/batch"
)

// Entry is one entity's newest event as the snapshot keeps it.
type Entry struct {
	Subject string // the event's subject
	Seq     uint64 // the event's sequence in the event stream
	Version string
	Header  nats.Header
	Data    []byte
}

// entryOf reads a stored entry. Its Header is the event's: the server's
// headers (the stored Nats-Expected-Last-Subject-Sequence of the
// conditional write among them, which would refuse a publish elsewhere)
// and the entry's own version header are left out.
func entryOf(m *jetstream.RawStreamMsg) Entry {
	seq, _ := strconv.ParseUint(m.Header.Get(deadletter.HeaderStreamSeq), 10, 64)
	h := make(nats.Header, len(m.Header))
	for k, v := range m.Header {
		if !strippedHeader(k) && k != HeaderVersion {
			h[k] = v
		}
	}
	return Entry{Subject: m.Header.Get(deadletter.HeaderSubject), Seq: seq, Version: versionOf(m.Header),
		Header: h, Data: m.Data}
}

// Query selects a connector's entries: those of its subjects read with
// its spec, of every entity or only of Keys.
type Query struct {
	Spec     Spec
	Subjects []string
	Keys     []string
}

// Each calls fn with every entry q selects, in the order they were
// written. Memory does not grow with the number of entities: all of
// them are read through an ordered consumer, named keys one at a time.
func Each(ctx context.Context, js jetstream.JetStream, q Query, fn func(Entry) error) error {
	if len(q.Keys) > 0 {
		for _, k := range q.Keys {
			e, ok, err := Newest(ctx, js, q.Spec, q.Subjects, k)
			if err != nil {
				return err
			}
			if ok {
				if err := fn(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return each(ctx, js, Filters(q.Spec, q.Subjects, ""), fn)
}

// each reads the entries under filters in stream order. Entries written
// after the read began come too, until none is left: each is the newest
// of its entity when it is read.
func each(ctx context.Context, js jetstream.JetStream, filters []string, fn func(Entry) error) error {
	err := broker.Scan(ctx, js, Stream, broker.ScanOptions{Filters: filters}, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		return fn(entryOf(&jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream,
			Header: m.Headers(), Data: m.Data()}))
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("snapshot: read %v: %w", filters, err)
	}
	return err
}

// Newest is the entity key's newest entry on any of subjects, read with
// spec; false when the snapshot holds none.
func Newest(ctx context.Context, js jetstream.JetStream, spec Spec, subjects []string, key string) (Entry, bool, error) {
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return Entry{}, false, fmt.Errorf("snapshot: %w", err)
	}
	var best Entry
	found := false
	for _, f := range Filters(spec, subjects, key) {
		m, err := st.GetLastMsgForSubject(ctx, f)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return Entry{}, false, fmt.Errorf("snapshot: entity %q: %w", key, err)
		}
		e := entryOf(m)
		if !found || batch.Newer(e.Version, e.Seq, best.Version, best.Seq) {
			best, found = e, true
		}
	}
	return best, found, nil
}

// Holds says whether the snapshot has any entry for spec's key path. A
// key path no connector used before has none: the writer keeps entries
// for the connectors' key paths only, from when each is first used.
func Holds(ctx context.Context, js jetstream.JetStream, spec Spec) (bool, error) {
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	_, err = st.GetLastMsgForSubject(ctx, SubjectPrefix+spec.Token()+".>")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	return true, nil
}
