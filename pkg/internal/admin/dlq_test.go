package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/synclog"
)

// newBroker is an embedded NATS with extsync's streams.
func newBroker(t *testing.T) (context.Context, jetstream.JetStream) {
	srv := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, srv)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx, js
}

// An operator's script finds the night's dead letters, checks what a
// replay would send, sends it and reads who did what in the log.
func TestDLQReplayThroughTheAPI(t *testing.T) {
	ctx, js := newBroker(t)
	for i, c := range []string{"court", "clinic", "court"} {
		require.NoError(t, deadletter.NewParker(js).Park(ctx, &deadletter.Letter{
			Connector: c, Stream: "HMS_EVENTS", StreamSeq: uint64(i + 1), EventID: fmt.Sprintf("e%d", i+1),
			Status: "exhausted", Reason: "transient (status 503)", Body: []byte(`{"id":"x"}`),
		}))
	}
	_, err := js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-court-replay", FilterSubject: deadletter.ReplaySubjectPrefix + "court",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	base := start(t, "tok", &admin.Ops{JS: js, Connectors: func(context.Context) []admin.ConnectorView { return nil }})

	code, body := call(t, "POST", base+"/api/v1/dlq/replay?id=e9", "tok")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, `no dead letter with id or sequence \"e9\"`)
	code, body = call(t, "POST", base+"/api/v1/dlq/replay?until=tomorrow", "tok")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, `until \"tomorrow\": want a time such as`)
	code, body = call(t, "POST", base+"/api/v1/dlq/replay?connector=court&rate=fast", "tok")
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body = call(t, "POST", base+"/api/v1/dlq/replay?connector=court&dry_run=true", "tok")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"dry_run":true,"would_be_replayed":2,"event_ids":["e1","e3"]}`, body)
	require.Empty(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), "a dry run sends nothing")

	code, body = call(t, "POST", base+"/api/v1/dlq/replay?connector=court&rate=100/s", "tok")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"replayed":2,"gone":0}`, body)
	sent := brokertest.Messages(t, js, deadletter.ReplayStream, "")
	require.Len(t, sent, 2)
	require.True(t, strings.HasPrefix(sent[0].Header.Get(deadletter.HeaderReplayedBy), "api(token)@127.0.0.1"))

	code, body = call(t, "GET", base+"/api/v1/dlq", "tok")
	require.Equal(t, http.StatusOK, code)
	var left []deadletter.Entry
	require.NoError(t, json.Unmarshal([]byte(body), &left))
	require.Len(t, left, 1)
	require.Equal(t, "e2", left[0].EventID, "clinic's letter stays")

	code, body = call(t, "GET", base+"/api/v1/log?connector=court&status=admin", "tok")
	require.Equal(t, http.StatusOK, code)
	var recs []synclog.Record
	require.NoError(t, json.Unmarshal([]byte(body), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, "dlq replay", recs[0].Action)
	require.Equal(t, 2, recs[0].Count)
	require.True(t, strings.HasPrefix(recs[0].Actor, "api(token)@127.0.0.1"), recs[0].Actor)
	code, _ = call(t, "GET", base+"/api/v1/log?since=soon", "tok")
	require.Equal(t, http.StatusBadRequest, code)
}

// A misspelt connector is refused by name, not answered "0 replayed".
func TestDLQActionsOnAnUnknownConnectorAnswer404(t *testing.T) {
	ctx, js := newBroker(t)
	require.NoError(t, deadletter.NewParker(js).Park(ctx, &deadletter.Letter{
		Connector: "court", Stream: "HMS_EVENTS", StreamSeq: 1, EventID: "e1",
		Status: "exhausted", Reason: "transient (status 503)", Body: []byte(`{"id":"x"}`),
	}))
	base := start(t, "tok", &admin.Ops{JS: js, Connectors: func(context.Context) []admin.ConnectorView { return nil }})

	for _, path := range []string{"/api/v1/dlq/replay?connector=cuort", "/api/v1/dlq/replay?connector=cuort&dry_run=true",
		"/api/v1/dlq/purge?connector=cuort", "/api/v1/dlq/purge?connector=cuort&dry_run=true"} {
		code, body := call(t, "POST", base+path, "tok")
		require.Equal(t, http.StatusNotFound, code, path)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(body), &e), body)
		require.Contains(t, e.Error, `unknown connector "cuort"`, path)
	}
	require.Len(t, brokertest.Messages(t, js, deadletter.Stream, ""), 1, "nothing purged")

	// A connector known only by its dead letters can still be purged.
	code, body := call(t, "POST", base+"/api/v1/dlq/purge?connector=court", "tok")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"purged":1}`, body)
}
