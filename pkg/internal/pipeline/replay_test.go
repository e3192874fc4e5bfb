package pipeline_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

func TestReplayGoesBackThroughTheSameConnectorOnly(t *testing.T) {
	e := newEnv(t)
	flaky := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest) // refused once; fixed on the court's side later
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	other := newSink(t, nil)
	doc := "connectors:\n" + httpConnector("court", "hms.workflow.updated", flaky.URL, "    mapping: {name: title}\n") + "\n" +
		httpConnector("archive", "hms.workflow.updated", other.URL, "")
	e.start(doc, map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","name":"Attorney Rotation"}`), nil)
	e.waitFor("parked", func() bool { return len(e.deadLetters("court")) == 1 })
	e.waitFor("archive delivered", func() bool { return other.count() == 1 })

	dl := e.deadLetters("court")[0]
	n, err := deadletter.NewReplayer(e.js).Replay(context.Background(), []deadletter.ReplayItem{
		{Seq: dl.Sequence, Connector: "court", Header: dl.Header, Body: dl.Data},
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	e.waitFor("the replay delivered", func() bool { return flaky.count() == 2 })
	first, second := flaky.requests()[0], flaky.requests()[1]
	require.Equal(t, first.Header.Get("Idempotency-Key"), second.Header.Get("Idempotency-Key"), "the event id stays the key")
	require.Equal(t, "HMS_EVENTS:1", second.Header.Get("Idempotency-Key"))
	require.Equal(t, map[string]any{"title": "Attorney Rotation"}, second.Body, "mapped like the original")
	require.Empty(t, e.deadLetters("court"), "the dead letter is removed once the replay is stored")

	e.waitFor("a delivered record", func() bool {
		recs := e.logRecords("court")
		return len(recs) == 2 && recs[1].Outcome == "delivered"
	})
	rec := e.logRecords("court")[1]
	require.Equal(t, "HMS_EVENTS:1", rec.EventID)
	require.Equal(t, "hms.workflow.updated", rec.Subject, "the original subject, not the replay's")
	require.Equal(t, "wf-1", rec.Entity)
	require.Equal(t, 1, other.count(), "the other connector of the subject never sees the replay")
}

func TestReplayedEventThatFailsAgainIsParkedAgain(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, status(http.StatusUnprocessableEntity))
	e.start("connectors:\n"+httpConnector("court", "hms.workflow.updated", s.URL, ""), map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1"}`), nil)
	e.waitFor("parked", func() bool { return len(e.deadLetters("court")) == 1 })
	dl := e.deadLetters("court")[0]
	_, err := deadletter.NewReplayer(e.js).Replay(context.Background(), []deadletter.ReplayItem{
		{Seq: dl.Sequence, Connector: "court", Header: dl.Header, Body: dl.Data},
	})
	require.NoError(t, err)
	e.waitFor("parked again", func() bool {
		dls := e.deadLetters("court")
		return len(dls) == 1 && dls[0].Sequence != dl.Sequence
	})
	again := e.deadLetters("court")[0]
	require.Equal(t, dl.Header.Get(deadletter.HeaderEventID), again.Header.Get(deadletter.HeaderEventID))
	require.Equal(t, "hms.workflow.updated", again.Header.Get(deadletter.HeaderSubject))
	require.Equal(t, dl.Data, again.Data)
	require.Equal(t, 2, s.count())
	require.Equal(t, "2", again.Header.Get(deadletter.HeaderAttempts), "the attempt count carries on across the replay")
	require.Equal(t, dl.Header.Get(deadletter.HeaderFirstAttempt), again.Header.Get(deadletter.HeaderFirstAttempt))
}

// The court's field names changed after the night's failures: a replay
// can use the mapping each event was first sent with, or today's.
func TestReplayWithTheOriginalOrTheCurrentMapping(t *testing.T) {
	e := newEnv(t)
	s := newSink(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	oldDoc := "connectors:\n" + httpConnector("court", "hms.workflow.updated", s.URL, "    mapping: {name: title}\n")
	e.start(oldDoc, map[string]string{"TOKEN": "t"})
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","name":"Attorney Rotation"}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","name":"Night Court"}`), nil)
	e.waitFor("both parked", func() bool { return len(e.deadLetters("court")) == 2 })
	oldVersion := e.deadLetters("court")[0].Header.Get(deadletter.HeaderMappingVersion)
	require.NotEmpty(t, oldVersion)
	require.Equal(t, oldVersion, e.recordsWhenStored("court", 1)[0].MappingVersion, "the sync log names the mapping too")

	newDoc := "connectors:\n" + httpConnector("court", "hms.workflow.updated", s.URL, "    mapping: {name: workflow_title}\n")
	f, err := config.Parse("new.yaml", []byte(newDoc), func(string) (string, bool) { return "t", true }, nil)
	require.NoError(t, err)
	require.NoError(t, e.p.Upsert(context.Background(), f.Connectors[0]))

	ctx := context.Background()
	n, err := deadletter.ReplaySelected(ctx, e.js, deadletter.Action{
		Filter: deadletter.Filter{IDs: []string{"HMS_EVENTS:1"}}, Mapping: deadletter.MappingOriginal, Actor: "t"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.waitFor("wf-1 replayed", func() bool { return s.count() == 3 })
	n, err = deadletter.ReplaySelected(ctx, e.js, deadletter.Action{
		Filter: deadletter.Filter{IDs: []string{"HMS_EVENTS:2"}}, Mapping: deadletter.MappingCurrent, Actor: "t"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.waitFor("wf-2 replayed", func() bool { return s.count() == 4 })

	byPath := map[string]map[string]any{}
	for _, r := range s.requests()[2:] {
		byPath[r.Path] = r.Body
	}
	require.Equal(t, map[string]any{"title": "Attorney Rotation"}, byPath["/workflows/wf-1"], "original mapping")
	require.Equal(t, map[string]any{"workflow_title": "Night Court"}, byPath["/workflows/wf-2"], "current mapping")
}
