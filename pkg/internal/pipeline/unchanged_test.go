package pipeline_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// courtWith is a connectors document for one http connector with extra
// settings (indented as connector fields).
func courtWith(url, extra string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
%s    http: {url: "%s/workflows/{id}"}
`, extra, url)
}

// An update whose mapped fields did not change sends nothing and is
// logged unchanged; a change to a mapped field is sent.
func TestAnUpdateWithUnchangedMappedFieldsIsNotSent(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(courtWith(s.URL, "    version: version\n    mapping: {name: title}\n"), nil)
	for v, body := range []string{
		`{"id":"wf-1","version":1,"name":"Rotation","clerk":"a"}`,
		`{"id":"wf-1","version":2,"name":"Rotation","clerk":"b"}`, // only an unmapped field changed
		`{"id":"wf-1","version":3,"name":"Rotation B","clerk":"b"}`,
	} {
		e.publishRaw("hms.workflow.updated", []byte(body), nil)
		recs := e.recordsWhenStored("court", v+1)
		require.Equal(t, fmt.Sprint(v+1), recs[v].Version)
	}
	var outcomes []string
	for _, r := range e.logRecords("court") {
		outcomes = append(outcomes, r.Version+":"+r.Outcome)
	}
	require.Equal(t, []string{"1:delivered", "2:unchanged", "3:delivered"}, outcomes)
	require.Equal(t, 2, s.count(), "the court got versions 1 and 3 only")
}

// A connector with start: now sends only what is published after it was
// created.
func TestStartNowSkipsTheHistory(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"old"}`), nil)
	e.start(courtWith(s.URL, "    start: now\n"), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"new"}`), nil)
	e.waitFor("the new event", func() bool { return s.count() >= 1 })
	e.waitFor("settled", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
	require.Equal(t, 1, s.count())
	require.Equal(t, "/workflows/new", s.requests()[0].Path)
}

// A repair (verify --repair) sends the version last delivered once more
// through the connector's replay subject, though it is neither newer nor
// changed; a plain redelivery of it stays superseded.
func TestARepairSendsTheDeliveredVersionAgain(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(courtWith(s.URL, "    version: version\n"), nil)
	body := []byte(`{"id":"wf-1","version":1,"name":"Rotation"}`)
	ack := e.publishRaw("hms.workflow.updated", body, nil)
	e.recordsWhenStored("court", 1)
	for _, repair := range []string{"", "true"} {
		e.publishRaw(deadletter.ReplaySubjectPrefix+"court", body, nats.Header{
			deadletter.HeaderSubject:   {"hms.workflow.updated"},
			deadletter.HeaderStreamSeq: {fmt.Sprint(ack.Sequence)},
			deadletter.HeaderRepair:    {repair},
		})
	}
	recs := e.recordsWhenStored("court", 3)
	require.Equal(t, []string{"delivered", "superseded", "delivered"},
		[]string{recs[0].Outcome, recs[1].Outcome, recs[2].Outcome})
	require.Equal(t, 2, s.count(), "the repair reached the court")
}

// With skip_unchanged: true, unversioned events keep the record they
// were delivered with, and an update that maps to it is not sent.
func TestUnversionedEventsKeepTheirRecordWhenAsked(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(courtWith(s.URL, "    skip_unchanged: true\n    mapping: {name: title}\n"), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","name":"Rotation"}`), nil)
	e.recordsWhenStored("court", 1)
	e.waitFor("acked, its record kept", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
	state, err := reconcile.Open(context.Background(), e.js, 1)
	require.NoError(t, err)
	st, err := state.Recall(context.Background(), "court", "wf-1")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"title": "Rotation"}, st.Record())
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","name":"Rotation","clerk":"b"}`), nil)
	recs := e.recordsWhenStored("court", 2)
	require.Equal(t, "unchanged", recs[1].Outcome)
	require.Equal(t, 1, s.count())
}
