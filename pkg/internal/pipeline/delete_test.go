package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

func outcomesOf(recs []synclog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Version + ":" + r.Operation + ":" + r.Outcome
	}
	return out
}

// An event meeting delete_when is a DELETE of the entity's URL, with the
// connector's headers; the entity state records the deletion, so an
// older update after it is superseded, the same deletion again is
// unchanged, and a newer update puts the record back.
func TestDeleteWhenSendsADeleteAndOrderingHoldsAfterIt(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    version: version
    delete_when: '$.status == "cancelled"'
    http: {url: "`+s.URL+`/workflows/{id}", headers: {X-Tenant: hms}}
`, nil)
	steps := []struct{ body, want string }{
		{`{"id":"wf-1","version":1,"status":"open"}`, "1::delivered"},
		{`{"id":"wf-1","version":2,"status":"cancelled"}`, "2:delete:delivered"},
		{`{"id":"wf-1","version":1,"status":"open"}`, "1::superseded"},
		{`{"id":"wf-1","version":3,"status":"cancelled"}`, "3:delete:unchanged"},
		{`{"id":"wf-1","version":4,"status":"open"}`, "4::delivered"},
	}
	var want []string
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for i, st := range steps {
		e.publishRaw("hms.workflow.updated", []byte(st.body), nats.Header{"traceparent": {tp}})
		want = append(want, st.want)
		require.Equal(t, want, outcomesOf(e.recordsWhenStored("court", i+1)), "after %s", st.body)
		if i == 1 {
			state, err := reconcile.Open(context.Background(), e.js, 1)
			require.NoError(t, err)
			got, err := state.Recall(context.Background(), "court", "wf-1")
			require.NoError(t, err)
			require.True(t, got.Deleted, "the state records the deletion")
			require.Equal(t, "2", got.Version)
		}
	}
	reqs := s.requests()
	require.Len(t, reqs, 3, "the superseded update and the repeated deletion sent nothing")
	require.Equal(t, []string{"PUT", "DELETE", "PUT"}, []string{reqs[0].Method, reqs[1].Method, reqs[2].Method})
	del := reqs[1]
	require.Equal(t, "/workflows/wf-1", del.Path)
	require.Equal(t, "hms", del.Header.Get("X-Tenant"))
	require.NotEmpty(t, del.Header.Get("Idempotency-Key"))
	require.Equal(t, tp, del.Header.Get("Traceparent"))
	require.Empty(t, del.Raw)
	require.Empty(t, reqs[2].Header.Get("If-Match"), "the record put back is new")
}

// A CloudEvent whose type ends in .deleted is a deletion with no setting;
// a 404 to its DELETE means the record is gone already: delivered.
func TestADeletedCloudEventAnswered404IsDelivered(t *testing.T) {
	s := newSink(t, status(http.StatusNotFound))
	e := newEnv(t)
	e.start(courtWith(s.URL, "    retry: {max_attempts: 1}\n"), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"specversion":"1.0","id":"ce-9","type":"gov.hms.workflow.deleted",`+
		`"source":"/hms/workflow","data":{"id":"wf-9"}}`), nil)
	recs := e.recordsWhenStored("court", 1)
	require.Equal(t, "delivered", recs[0].Outcome, "%+v", recs[0])
	require.Equal(t, synclog.OperationDelete, recs[0].Operation)
	require.Equal(t, http.StatusNotFound, recs[0].Status)
	require.Empty(t, e.deadLetters("court"))
	require.Equal(t, "DELETE", s.requests()[0].Method)
	require.Equal(t, "/workflows/wf-9", s.requests()[0].Path)
	require.Equal(t, "ce-9", s.requests()[0].Header.Get("Idempotency-Key"))
}

// A deletion carrying only its key is sent, though the mapping finds
// none of its fields (an update like it is unmappable).
func TestADeletionWithNoMappedFieldIsSent(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(courtWith(s.URL, "    mapping: {name: title}\n    retry: {max_attempts: 1}\n"), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"specversion":"1.0","id":"ce-7","type":"gov.hms.workflow.deleted",`+
		`"source":"/hms/workflow","data":{"id":"wf-7"}}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-8"}`), nil)
	recs := e.recordsWhenStored("court", 2)
	require.ElementsMatch(t, []string{":delete:delivered", "::dead-lettered"}, outcomesOf(recs))
	require.Equal(t, 1, s.count())
	require.Equal(t, "DELETE", s.requests()[0].Method)
	require.Equal(t, "/workflows/wf-7", s.requests()[0].Path)
}

// A kind that cannot delete dead-letters a deletion, saying so, and never
// sends it as an update.
func TestAKindThatCannotDeleteDeadLettersTheDeletion(t *testing.T) {
	s, e := startSoap(t)
	e.publishRaw("hms.workflow.updated", []byte(`{"specversion":"1.0","id":"ce-1","type":"gov.hms.workflow.deleted",`+
		`"source":"/hms/workflow","data":{"id":"wf-1"}}`), nil)
	recs := e.recordsWhenStored("court-soap", 1)
	require.Equal(t, "dead-lettered", recs[0].Outcome)
	require.Equal(t, synclog.OperationDelete, recs[0].Operation)
	require.Contains(t, recs[0].Error, "cannot delete")
	letters := e.deadLetters("court-soap")
	require.Len(t, letters, 1)
	require.Contains(t, letters[0].Header.Get(deadletter.HeaderError), "cannot delete")
	require.Zero(t, s.count(), "nothing reached the service")
}

// verify --repair of a deleted entity still in the system sends the
// deletion again, though the entity is already recorded as deleted.
func TestARepairOfADeletionDeletesAgain(t *testing.T) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(courtWith(s.URL, "    version: version\n    delete_when: '$.status == \"cancelled\"'\n"), nil)
	body := []byte(`{"id":"wf-1","version":1,"status":"cancelled"}`)
	ack := e.publishRaw("hms.workflow.updated", body, nil)
	e.recordsWhenStored("court", 1)
	e.publishRaw(deadletter.ReplaySubjectPrefix+"court", body, nats.Header{
		deadletter.HeaderSubject:   {"hms.workflow.updated"},
		deadletter.HeaderStreamSeq: {fmt.Sprint(ack.Sequence)},
		deadletter.HeaderRepair:    {"run-1"},
	})
	require.Equal(t, []string{"1:delete:delivered", "1:delete:delivered"}, outcomesOf(e.recordsWhenStored("court", 2)))
	reqs := s.requests()
	require.Equal(t, []string{"DELETE", "DELETE"}, []string{reqs[0].Method, reqs[1].Method})
}

// In mode batch the bulk request carries the writes; each deletion goes
// as its own DELETE, and its entity is recorded deleted.
func TestABatchSendsItsDeletionsAsDeletes(t *testing.T) {
	e, clock := newEnv(t), newFakeClock()
	s := newSink(t, nil)
	e.startBatch(`connectors:
  - name: nightly
    kind: http
    subjects: [hms.workflow.updated]
    mode: batch
    batch: {every: 1h}
    version: version
    delete_when: '$.status == "cancelled"'
    http:
      url: "`+s.URL+`/one/{id}"
      bulk: {url: "`+s.URL+`/bulk"}
`, clock)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":1,"status":"open"}`), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-2","version":1,"status":"cancelled"}`), nil)
	e.waitFor("both waiting", func() bool { return e.batchStatus().Waiting == 2 })
	clock.Advance(time.Hour)
	e.settledAll("both acked")

	var got []string
	for _, r := range s.requests() {
		got = append(got, r.Method+" "+r.Path)
	}
	require.ElementsMatch(t, []string{"POST /bulk", "DELETE /one/wf-2"}, got)
	bulk := s.requests()[0]
	require.Equal(t, "POST /bulk", bulk.Method+" "+bulk.Path, "the bulk request goes first")
	require.Contains(t, bulk.Raw, `"wf-1"`)
	require.NotContains(t, bulk.Raw, `"wf-2"`)

	var ops []string
	for _, r := range e.logRecords("nightly") {
		ops = append(ops, r.Entity+":"+r.Operation+":"+r.Outcome)
	}
	require.ElementsMatch(t, []string{"wf-1::delivered", "wf-2:delete:delivered"}, ops)
	state, err := reconcile.Open(context.Background(), e.js, 1)
	require.NoError(t, err)
	st, err := state.Recall(context.Background(), "nightly", "wf-2")
	require.NoError(t, err)
	require.True(t, st.Deleted)
}

// A claim started while the event waited for a worker is ended when the
// event fails before its claim stage (here: a deletion soap cannot
// send), so the entity is not held until the claim lapses; the next
// version goes through.
func TestAClaimTakenAheadIsEndedWhenTheEventFailsFirst(t *testing.T) {
	s, e := startSoap(t)
	cloudEvent := func(id, typ, version string) []byte {
		return []byte(`{"specversion":"1.0","id":"` + id + `","type":"gov.hms.workflow.` + typ + `","source":"/hms/workflow",` +
			`"subject":"wf-1","entityversion":"` + version + `","data":{"id":"wf-1"}}`)
	}
	e.publishRaw("hms.workflow.updated", cloudEvent("ce-1", "deleted", "1"), nil)
	recs := e.recordsWhenStored("court-soap", 1)
	require.Equal(t, "dead-lettered", recs[0].Outcome)

	state, err := reconcile.Open(context.Background(), e.js, 1)
	require.NoError(t, err)
	st, err := state.Recall(context.Background(), "court-soap", "wf-1")
	require.NoError(t, err)
	require.Nil(t, st.Claim, "no claim left holding the entity")

	e.publishRaw("hms.workflow.updated", cloudEvent("ce-2", "updated", "2"), nil)
	recs = e.recordsWhenStored("court-soap", 2)
	require.Equal(t, "delivered", recs[1].Outcome)
	require.Equal(t, 1, s.count())
}

// startSoap runs a soap connector, a kind that cannot delete, named
// court-soap, on hms.workflow.updated.
func startSoap(t *testing.T) (*sink, *env) {
	s := newSink(t, nil)
	e := newEnv(t)
	e.start(`connectors:
  - name: court-soap
    kind: soap
    subjects: [hms.workflow.updated]
    soap:
      url: `+s.URL+`/ws
      action: urn:court/UpdateHearing
      template: '<UpdateHearing>{{.id}}</UpdateHearing>'
`, nil)
	return s, e
}
