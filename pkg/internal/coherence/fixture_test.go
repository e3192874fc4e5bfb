package coherence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// court is a system holding records by id, read with GET.
type court struct {
	*httptest.Server
	mu      sync.Mutex
	records map[string]map[string]any
	reads   int
}

func newCourt(t *testing.T) *court {
	c := &court{records: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /workflows/{id}", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reads++
		rec, ok := c.records[r.PathValue("id")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(rec)
	})
	c.Server = httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c
}

func (c *court) set(id string, rec map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records[id] = rec
}

func (c *court) edit(id, field string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records[id][field] = v
}

func (c *court) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.records, id)
}

// env is a broker, entity state and a court connector that delivered
// to the court.
type env struct {
	ctx    context.Context
	js     jetstream.JetStream
	states *reconcile.Store
	court  *court
	conn   *config.Connector
	remote connectors.Remote
}

// newBroker is an env with the broker and the entity state only.
func newBroker(t *testing.T) *env {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	states, err := reconcile.Open(ctx, js, 1)
	require.NoError(t, err)
	return &env{ctx: ctx, js: js, states: states}
}

func newEnv(t *testing.T) *env {
	e := newBroker(t)
	e.court = newCourt(t)
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    mapping: {id: case_id, name: workflow_name, room: courtroom}
    http: {url: "%s/workflows/{id}"}
`, e.court.URL)
	f, err := config.Parse("c.yaml", []byte(doc), func(string) (string, bool) { return "", false }, nil)
	require.NoError(t, err)
	e.conn = &f.Connectors[0]
	conn, remote, err := coherence.Open(catalog.Default(), e.conn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	e.remote = remote
	return e
}

// deliver publishes version v of entity id and records it as delivered:
// the court holds the mapped record, the state keeps it.
func (e *env) deliver(t *testing.T, id string, v int, room string) {
	t.Helper()
	e.delivered(t, id, v, map[string]any{"id": id, "version": v, "name": "Attorney Rotation", "room": room})
	e.court.set(id, map[string]any{"case_id": id, "workflow_name": "Attorney Rotation", "courtroom": room, "clerk": "x"})
}

// delivered publishes data as version v of entity id and records its
// mapped record as delivered in the entity state.
func (e *env) delivered(t *testing.T, id string, v int, data map[string]any) {
	t.Helper()
	body, _ := json.Marshal(data)
	ack, err := e.js.PublishMsg(e.ctx, &nats.Msg{Subject: "hms.workflow.updated", Data: body,
		Header: nats.Header{"Nats-Msg-Id": {id + "-v" + strconv.Itoa(v)}}})
	require.NoError(t, err)
	var decoded map[string]any
	require.NoError(t, json.Unmarshal(body, &decoded))
	mapped, err := mapping.New(e.conn.Mapping).Apply(decoded)
	require.NoError(t, err)
	require.NoError(t, e.states.Release(e.ctx, "court", id, strconv.Itoa(v), ack.Sequence,
		&reconcile.Synced{Snapshot: reconcile.RecordJSON(mapped), Mapping: "m1"}))
}

func (e *env) checker() *coherence.Checker {
	return &coherence.Checker{Connector: e.conn, Remote: e.remote, States: e.states, JS: e.js,
		Stream: "HMS_EVENTS", Workers: 4, Actor: "test"}
}

func (e *env) state(t *testing.T, id string) reconcile.State {
	t.Helper()
	st, _, err := e.states.Read(e.ctx, reconcile.Key("court", id))
	require.NoError(t, err)
	return st
}
