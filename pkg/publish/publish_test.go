package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/publish"
)

const streamName = "HMS_EVENTS"

type env struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	pub    *publish.Publisher
	ctx    context.Context
}

func setup(t testing.TB) env {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second))

	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, broker.EnsureEventStream(ctx, js, streamName, 1))
	st, err := js.Stream(ctx, streamName)
	require.NoError(t, err)
	return env{js: js, stream: st, pub: publish.New(js, "hms/policy"), ctx: ctx}
}

func (e env) count(t *testing.T) uint64 {
	t.Helper()
	info, err := e.stream.Info(e.ctx)
	require.NoError(t, err)
	return info.State.Msgs
}

func (e env) get(t *testing.T, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	m, err := e.stream.GetMsg(e.ctx, seq)
	require.NoError(t, err)
	return m
}

// cloudEvent is the structured CloudEvent as stored, field by field.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         *string         `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	EntityVersion   *string         `json:"entityversion"`
	Data            json.RawMessage `json:"data"`
}

func decodeCE(t *testing.T, body []byte) cloudEvent {
	t.Helper()
	var ce cloudEvent
	require.NoError(t, json.Unmarshal(body, &ce), "body: %s", body)
	return ce
}

func TestPublishStoresCloudEvent(t *testing.T) {
	e := setup(t)
	before := time.Now().Add(-time.Second)
	data := `{"id":"wf-42","name":"Attorney Rotation","version":7,"assignment":{"judge":"Okafor"}}`

	res, err := e.pub.Publish(e.ctx, "hms.workflow.updated", data, publish.WithVersion("7"))
	require.NoError(t, err)
	require.Equal(t, streamName, res.Stream)
	require.NotZero(t, res.Seq)
	require.False(t, res.Duplicate)

	id, err := uuid.Parse(res.ID)
	require.NoError(t, err, "default id %q must be a UUID", res.ID)
	require.Equal(t, uuid.Version(7), id.Version())

	m := e.get(t, res.Seq)
	require.Equal(t, "hms.workflow.updated", m.Subject)
	require.Equal(t, res.ID, m.Header.Get("Nats-Msg-Id"))
	require.Equal(t, "application/cloudevents+json", m.Header.Get("Content-Type"))
	require.Equal(t, publish.ContentType, m.Header.Get("Content-Type"))

	ce := decodeCE(t, m.Data)
	require.Equal(t, "1.0", ce.SpecVersion)
	require.Equal(t, res.ID, ce.ID)
	require.Equal(t, "hms/policy", ce.Source)
	require.Equal(t, "hms.workflow.updated", ce.Type)
	require.NotNil(t, ce.Subject)
	require.Equal(t, "wf-42", *ce.Subject)
	require.NotNil(t, ce.EntityVersion)
	require.Equal(t, "7", *ce.EntityVersion)
	require.Equal(t, "application/json", ce.DataContentType)
	ts, err := time.Parse(time.RFC3339, ce.Time)
	require.NoError(t, err, "time %q must be RFC 3339", ce.Time)
	require.WithinRange(t, ts, before, time.Now().Add(time.Second))
	require.JSONEq(t, data, string(ce.Data))

	// Exactly the set of top-level members expected, nothing else.
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m.Data, &top))
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "entityversion", "data"}, keys)

	// The round trip through extsync's decoder.
	ev, err := event.Decode(event.Message{
		Subject: m.Subject, Stream: streamName, Seq: m.Sequence, Time: m.Time,
		Header: m.Header, Body: m.Data,
	}, event.Options{})
	require.NoError(t, err)
	require.True(t, ev.CloudEvent)
	require.Equal(t, res.ID, ev.ID)
	require.Equal(t, "wf-42", ev.Key)
	require.Equal(t, "7", ev.Version)
	require.Equal(t, "hms.workflow.updated", ev.Type)
	require.Equal(t, "hms.workflow.updated", ev.Subject)
	require.Equal(t, "hms/policy", ev.Source)
	require.Equal(t, streamName, ev.Stream)
	require.Equal(t, res.Seq, ev.Seq)
	require.True(t, ev.Time.Equal(ts), "event time %v, CloudEvent time %v", ev.Time, ts)
	require.Equal(t, map[string]any{
		"id": "wf-42", "name": "Attorney Rotation", "version": json.Number("7"),
		"assignment": map[string]any{"judge": "Okafor"},
	}, ev.Data)
	evJSON, err := json.Marshal(ev.Data)
	require.NoError(t, err)
	require.JSONEq(t, data, string(evJSON))
}

func TestPublishWithoutVersionOmitsEntityVersion(t *testing.T) {
	e := setup(t)
	res, err := e.pub.Publish(e.ctx, "hms.policy.updated", map[string]any{"id": "p1"})
	require.NoError(t, err)
	ce := decodeCE(t, e.get(t, res.Seq).Data)
	require.Nil(t, ce.EntityVersion)

	ev := decodeStored(t, e, res.Seq, event.Options{})
	require.Empty(t, ev.Version)
	require.Equal(t, "p1", ev.Key)
}

func TestPublishNumericID(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		data any
		key  string
	}{
		{`{"id":42}`, "42"},
		{map[string]any{"id": 7}, "7"},
		{`{"id":12345678901234567890}`, "12345678901234567890"}, // beyond float64 precision
		{`{"id":"00042"}`, "00042"},
	} {
		res, err := e.pub.Publish(e.ctx, "hms.assignment.updated", tc.data)
		require.NoError(t, err)
		ce := decodeCE(t, e.get(t, res.Seq).Data)
		require.NotNil(t, ce.Subject, "data %v", tc.data)
		require.Equal(t, tc.key, *ce.Subject, "data %v", tc.data)

		ev := decodeStored(t, e, res.Seq, event.Options{})
		require.Equal(t, tc.key, ev.Key)
	}
}

func TestPublishNoID(t *testing.T) {
	// No "id" in data and no WithKey: no CloudEvent subject; the event is
	// still stored and decodes with an empty key.
	e := setup(t)
	res, err := e.pub.Publish(e.ctx, "hms.data.updated", `{"name":"x"}`)
	require.NoError(t, err)
	ce := decodeCE(t, e.get(t, res.Seq).Data)
	require.Nil(t, ce.Subject)
	ev := decodeStored(t, e, res.Seq, event.Options{})
	require.Empty(t, ev.Key)
}

func TestPublishOptions(t *testing.T) {
	e := setup(t)
	h := nats.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Set("tracestate", "hms=1")
	res, err := e.pub.Publish(e.ctx, "hms.scheduling.created", `{"id":"s1"}`,
		publish.WithID("evt-123"), publish.WithKey("hearing-9"), publish.WithType("gov.hms.scheduling.created"),
		publish.WithVersion("2024-05-01T10:00:00Z"), publish.WithHeader(h))
	require.NoError(t, err)
	require.Equal(t, "evt-123", res.ID)

	m := e.get(t, res.Seq)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", m.Header.Get("traceparent"))
	require.Equal(t, "hms=1", m.Header.Get("tracestate"))
	require.Equal(t, "evt-123", m.Header.Get("Nats-Msg-Id"))
	require.Equal(t, publish.ContentType, m.Header.Get("Content-Type"))

	ce := decodeCE(t, m.Data)
	require.Equal(t, "evt-123", ce.ID)
	require.Equal(t, "hearing-9", *ce.Subject)
	require.Equal(t, "gov.hms.scheduling.created", ce.Type)
	require.Equal(t, "2024-05-01T10:00:00Z", *ce.EntityVersion)

	ev := decodeStored(t, e, res.Seq, event.Options{})
	require.Equal(t, "evt-123", ev.ID)
	require.Equal(t, "hearing-9", ev.Key)
	require.Equal(t, "2024-05-01T10:00:00Z", ev.Version)
	require.Equal(t, "gov.hms.scheduling.created", ev.Type)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", event.HeaderValue(ev.Header, "traceparent"))

	// The caller's header is not modified.
	require.Empty(t, h.Get("Nats-Msg-Id"))
	require.Empty(t, h.Get("Content-Type"))
}

func TestPublishDuplicateID(t *testing.T) {
	e := setup(t)
	r1, err := e.pub.Publish(e.ctx, "hms.workflow.updated", `{"id":"w1","version":1}`, publish.WithID("x"))
	require.NoError(t, err)
	require.False(t, r1.Duplicate)
	r2, err := e.pub.Publish(e.ctx, "hms.workflow.updated", `{"id":"w1","version":1}`, publish.WithID("x"))
	require.NoError(t, err)
	require.True(t, r2.Duplicate)
	require.Equal(t, "x", r2.ID)
	require.Equal(t, r1.Seq, r2.Seq, "a duplicate reports the original's sequence")
	require.EqualValues(t, 1, e.count(t))

	// Default ids are fresh each time: two publishes, two events.
	a, err := e.pub.Publish(e.ctx, "hms.workflow.updated", `{"id":"w1"}`)
	require.NoError(t, err)
	b, err := e.pub.Publish(e.ctx, "hms.workflow.updated", `{"id":"w1"}`)
	require.NoError(t, err)
	require.NotEqual(t, a.ID, b.ID)
	require.False(t, b.Duplicate)
	require.EqualValues(t, 3, e.count(t))
}

type workflow struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
}

func TestPublishDataKinds(t *testing.T) {
	e := setup(t)
	want := `{"id":"w9","name":"Rotation","version":3}`
	for name, data := range map[string]any{
		"string":          want,
		"bytes":           []byte(want),
		"raw message":     json.RawMessage(want),
		"struct":          workflow{ID: "w9", Name: "Rotation", Version: 3},
		"struct pointer":  &workflow{ID: "w9", Name: "Rotation", Version: 3},
		"map":             map[string]any{"id": "w9", "name": "Rotation", "version": 3},
		"padded string":   "\n  " + want + "\n",
		"typed map value": map[string]string{"id": "w9", "name": "Rotation", "version": "3"},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := e.pub.Publish(e.ctx, "hms.workflow.updated", data)
			require.NoError(t, err)
			ce := decodeCE(t, e.get(t, res.Seq).Data)
			require.Equal(t, "w9", *ce.Subject)
			ev := decodeStored(t, e, res.Seq, event.Options{})
			require.Equal(t, "w9", ev.Key)
			require.Equal(t, "Rotation", ev.Data["name"])
			if name == "typed map value" {
				require.JSONEq(t, `{"id":"w9","name":"Rotation","version":"3"}`, string(ce.Data))
				return
			}
			require.JSONEq(t, want, string(ce.Data))
		})
	}
}

func TestPublishInvalid(t *testing.T) {
	e := setup(t)
	for name, tc := range map[string]struct {
		subject string
		data    any
	}{
		"subject outside hms.":      {"orders.created", `{"id":"o1"}`},
		"subject hms alone":         {"hms", `{"id":"o1"}`},
		"subject prefix look-alike": {"hmsx.workflow.updated", `{"id":"o1"}`},
		"empty subject":             {"", `{"id":"o1"}`},
		"invalid JSON":              {"hms.workflow.updated", `{"id":`},
		"JSON array":                {"hms.workflow.updated", `[{"id":"w1"}]`},
		"JSON string":               {"hms.workflow.updated", `"w1"`},
		"JSON number":               {"hms.workflow.updated", `42`},
		"JSON null":                 {"hms.workflow.updated", `null`},
		"empty string":              {"hms.workflow.updated", ``},
		"two objects":               {"hms.workflow.updated", `{"id":"a"}{"id":"b"}`},
		"nil":                       {"hms.workflow.updated", nil},
		"slice":                     {"hms.workflow.updated", []string{"a"}},
		"unencodable":               {"hms.workflow.updated", map[string]any{"f": func() {}}},
		"invalid bytes":             {"hms.workflow.updated", []byte("not json")},
		"raw array":                 {"hms.workflow.updated", json.RawMessage(`[1,2]`)},
	} {
		t.Run(name, func(t *testing.T) {
			res, err := e.pub.Publish(e.ctx, tc.subject, tc.data)
			require.Error(t, err)
			require.True(t, errors.Is(err, publish.ErrInvalid), "want ErrInvalid, got %v", err)
			require.Zero(t, res)
		})
	}
	require.Zero(t, e.count(t), "nothing may be stored for invalid input")
}

// TestPublishInvalidSubjectTokens: subjects under hms. that NATS cannot
// publish to (wildcards, empty tokens, spaces) are refused up front, not
// sent.
func TestPublishInvalidSubjectTokens(t *testing.T) {
	e := setup(t)
	for _, subject := range []string{"hms.>", "hms.*.updated", "hms..updated", "hms.workflow updated", "hms.", "hms.workflow.updated."} {
		t.Run(subject, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			defer cancel()
			_, err := e.pub.Publish(ctx, subject, `{"id":"w1"}`)
			require.Error(t, err)
			require.True(t, errors.Is(err, publish.ErrInvalid), "subject %q: want ErrInvalid, got %v", subject, err)
		})
	}
	require.Zero(t, e.count(t))
}

func TestPublishNoStream(t *testing.T) {
	// A subject no stream captures: the publish fails (no PubAck) rather
	// than silently dropping the event.
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second))
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err = publish.New(js, "hms/policy").Publish(ctx, "hms.workflow.updated", `{"id":"w1"}`, publish.WithID("lost-1"))
	require.Error(t, err)
	require.False(t, errors.Is(err, publish.ErrInvalid))
	require.Contains(t, err.Error(), "lost-1")
}

func decodeStored(t *testing.T, e env, seq uint64, opt event.Options) *event.Event {
	t.Helper()
	m := e.get(t, seq)
	ev, err := event.Decode(event.Message{
		Subject: m.Subject, Stream: streamName, Seq: m.Sequence, Time: m.Time, Header: m.Header, Body: m.Data,
	}, opt)
	require.NoError(t, err)
	require.True(t, ev.CloudEvent)
	return ev
}
