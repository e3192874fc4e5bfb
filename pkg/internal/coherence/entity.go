package coherence

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// ErrEventGone says the event of the version last delivered is no longer
// in the event stream (its max age or size passed): the entity's key
// cannot be recovered from it, nor the event sent again.
var ErrEventGone = errors.New("the event is no longer in the event stream")

// delivery is the Delivery a read of the entity is asked with, built
// from the record last delivered: Event.Key and Data (the record mapped
// back to the event's field names, with the key at the connector's key
// path) so URL templates like {id} render, Body the record itself.
func delivery(c *config.Connector, entity string, st reconcile.State) *connectors.Delivery {
	record := st.Record()
	data := unmap(c.Mapping, record)
	if c.Key != "" && entity != "" {
		if _, ok := event.Lookup(data, c.Key); !ok {
			_ = event.SetPath(data, c.Key, entity)
		}
	}
	ev := &event.Event{Key: entity, Version: st.Version, Seq: st.Seq, Data: data}
	return &connectors.Delivery{Event: ev, Body: record, Attempt: 1, IfMatch: st.ETag}
}

// unmap is the record's fields at the event's paths (mapping is
// internal→external); with no mapping the record is the event's data.
func unmap(rules map[string]string, record map[string]any) map[string]any {
	if len(rules) == 0 {
		return maps.Clone(record)
	}
	data := map[string]any{}
	for from, to := range rules {
		if v, ok := event.Lookup(record, to); ok {
			_ = event.SetPath(data, from, v)
		}
	}
	return data
}

// events reads the event stream's messages by sequence.
type events struct {
	js   jetstream.JetStream
	name string
	opts event.Options

	once   sync.Once
	stream jetstream.Stream
	err    error
}

func newEvents(js jetstream.JetStream, stream string, c *config.Connector) *events {
	return &events{js: js, name: stream, opts: event.Options{KeyPath: c.Key, VersionPath: c.Version}}
}

// get returns the stored message at seq, ErrEventGone when the stream
// no longer holds it.
func (e *events) get(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	e.once.Do(func() { e.stream, e.err = e.js.Stream(ctx, e.name) })
	if e.err != nil {
		return nil, fmt.Errorf("event stream %s: %w", e.name, e.err)
	}
	if seq == 0 {
		return nil, fmt.Errorf("%w (the state records no stream sequence)", ErrEventGone)
	}
	m, err := e.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w (%s sequence %d)", ErrEventGone, e.name, seq)
	}
	if err != nil {
		return nil, fmt.Errorf("event stream %s: sequence %d: %w", e.name, seq, err)
	}
	return m, nil
}

// decode reads m as the pipeline does: id, entity key, version, data.
func (e *events) decode(m *jetstream.RawStreamMsg) (*event.Event, error) {
	ev, err := event.Decode(event.Message{Subject: m.Subject, Stream: e.name, Seq: m.Sequence, Time: m.Time,
		Header: m.Header, Body: m.Data}, e.opts)
	if err != nil {
		return nil, fmt.Errorf("%s sequence %d: %w", e.name, m.Sequence, err)
	}
	return ev, nil
}

// original is the Delivery of the event last delivered, read from the
// stream: its own data renders the URL exactly as the delivery did.
func (e *events) original(ctx context.Context, st reconcile.State) (*connectors.Delivery, error) {
	m, err := e.get(ctx, st.Seq)
	if err != nil {
		return nil, err
	}
	ev, err := e.decode(m)
	if err != nil {
		return nil, err
	}
	return &connectors.Delivery{Event: ev, Body: st.Record(), Attempt: 1, IfMatch: st.ETag}, nil
}
