package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
)

func deletion(data map[string]any) *connectors.Delivery {
	d := delivery(data)
	d.Delete, d.IfMatch = true, `"7"`
	return d
}

func TestDeletionIsADeleteToTheSameURL(t *testing.T) {
	s := newSink(t, http.StatusNoContent, nil, "")
	c := newConnector(t, Config{
		URL:     s.URL + "/api/v1/workflows/{id}",
		Headers: map[string]string{"X-Tenant": "hms"},
		Auth:    &Auth{Bearer: "tok-1"},
	})
	require.NoError(t, connectors.Send(connectortest.Traced(traceparent), c, deletion(map[string]any{"id": "wf 1"})))

	r := s.only(t)
	require.Equal(t, http.MethodDelete, r.Method)
	require.Equal(t, "/api/v1/workflows/wf%201", r.RequestURI)
	require.Empty(t, r.Body, "a DELETE carries no body")
	require.Empty(t, r.Header.Get("Content-Type"))
	require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, "hms", r.Header.Get("X-Tenant"))
	require.Equal(t, "Bearer tok-1", r.Header.Get("Authorization"))
	require.Equal(t, traceparent, r.Header.Get("Traceparent"))
	require.Empty(t, r.Header.Get("If-Match"), "a deletion is not conditional")
}

func TestDeletionOfARecordAlreadyGoneIsDelivered(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		s := newSink(t, status, nil, `{"error":"no such workflow"}`)
		c := newConnector(t, Config{URL: s.URL + "/workflows/{id}"})
		d := deletion(map[string]any{"id": "wf-1"})
		require.NoError(t, connectors.Send(context.Background(), c, d), "status %d", status)
		require.Equal(t, status, d.Status, "the answer is kept for the sync log")
	}
	// An update answered 404 is still refused: only a deletion is done
	// when the record is not there.
	s := newSink(t, http.StatusNotFound, nil, "")
	c := newConnector(t, Config{URL: s.URL + "/workflows/{id}"})
	err := c.Deliver(context.Background(), delivery(map[string]any{"id": "wf-1"}))
	require.Equal(t, connectors.Permanent, connectors.Classify(err))
}

func TestDeletionRefusedOtherwiseKeepsItsClass(t *testing.T) {
	s := newSink(t, http.StatusServiceUnavailable, nil, "")
	c := newConnector(t, Config{URL: s.URL + "/workflows/{id}"})
	err := connectors.Send(context.Background(), c, deletion(map[string]any{"id": "wf-1"}))
	require.Equal(t, connectors.Transient, connectors.Classify(err), "%v", err)
	require.ErrorContains(t, err, "DELETE ")
}

func TestDeleteBlockSendsElsewhere(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{URL: s.URL + "/workflows/{id}",
		Delete: &Delete{URL: s.URL + "/workflows/{id}/cancel", Method: "post"}})
	require.NoError(t, connectors.Send(context.Background(), c, deletion(map[string]any{"id": "wf-1"})))
	r := s.only(t)
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "/workflows/wf-1/cancel", r.RequestURI)
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body), "a POST carries the mapped record")
	require.Equal(t, "H-77", body["case_reference"])

	_, err := build(Config{URL: s.URL + "/w/{id}", Delete: &Delete{Method: "GET"}})
	require.ErrorContains(t, err, `http.delete.method "GET": want DELETE, POST, PUT or PATCH`)
	_, err = build(Config{URL: s.URL + "/w/{id}", Delete: &Delete{URL: "ftp://x/{id}"}})
	require.ErrorContains(t, err, "http.delete.url must be an absolute")
}

// A bulk body cannot say "delete": a batch's deletions go as their own
// requests, and one that fails is that item's failure alone.
func TestBatchSendsItsDeletionsAsTheirOwnRequests(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	failing := newSink(t, http.StatusServiceUnavailable, nil, "")
	c := newConnector(t, Config{URL: s.URL + "/workflows/{id}", Delete: &Delete{URL: failing.URL + "/workflows/{id}"},
		Bulk: &Bulk{URL: s.URL + "/bulk"}})
	bc := c.(connectors.BatchConnector)
	ds := []*connectors.Delivery{delivery(map[string]any{"id": "wf-1"}), deletion(map[string]any{"id": "wf-2"}),
		delivery(map[string]any{"id": "wf-3"})}
	err := bc.DeliverBatch(context.Background(), ds)
	var be *connectors.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Failed, 1)
	require.Equal(t, connectors.Transient, connectors.Classify(be.Failed[1]), "the deletion, item 1, failed alone")

	bulk := s.only(t)
	require.Equal(t, "/bulk", bulk.RequestURI)
	var items []any
	require.NoError(t, json.Unmarshal(bulk.Body, &items))
	require.Len(t, items, 2, "the deletion is not in the bulk body")
	del := failing.only(t)
	require.Equal(t, http.MethodDelete, del.Method)
	require.Equal(t, "/workflows/wf-2", del.RequestURI)
}
