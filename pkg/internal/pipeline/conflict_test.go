package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

// etagCourt keeps one record per id with a version (its ETag): a PUT
// whose If-Match is stale is refused with 412, as a scheduling API with
// pending edits of its own does.
type etagCourt struct {
	*httptest.Server
	mu      sync.Mutex
	records map[string]map[string]any
	version map[string]int
	refused int
}

func newEtagCourt(t *testing.T) *etagCourt {
	c := &etagCourt{records: map[string]map[string]any{}, version: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *etagCourt) serve(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/workflows/")
	c.mu.Lock()
	defer c.mu.Unlock()
	etag := strconv.Quote(strconv.Itoa(c.version[id]))
	switch r.Method {
	case http.MethodGet:
		if c.records[id] == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etag)
		_ = json.NewEncoder(w).Encode(c.records[id])
	case http.MethodPut:
		if m := r.Header.Get("If-Match"); m != "" && m != etag {
			c.refused++
			http.Error(w, `{"error":{"code":"STALE"}}`, http.StatusPreconditionFailed)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		c.records[id] = body
		c.version[id]++
		w.Header().Set("ETag", strconv.Quote(strconv.Itoa(c.version[id])))
	}
}

// edit is the court clerk changing the record on the court's side.
func (c *etagCourt) edit(id string, fields map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range fields {
		c.records[id][k] = v
	}
	c.version[id]++
}

func (c *etagCourt) record(id string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records[id]
}

func conflictDoc(url, rule string) string {
	return fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    version: version
    retry: {max_attempts: 3, initial: 20ms, max: 50ms, multiplier: 2, jitter: 0.1}
    conflict: %s
    http: {url: "%s/workflows/{id}"}
`, rule, url)
}

// runConflict sends version 1, lets the clerk edit the record, then sends
// version 2, and returns the record the court ends with.
func runConflict(t *testing.T, rule string, v2 string) (*env, *etagCourt) {
	court := newEtagCourt(t)
	e := newEnv(t)
	e.start(conflictDoc(court.URL, rule), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":1,"judge":"Okafor","room":"4B","status":"draft"}`), nil)
	e.waitFor("v1 stored", func() bool { return court.record("wf-1") != nil })
	e.waitFor("v1 settled", func() bool { a, p := e.pending("court"); return a == 0 && p == 0 })
	court.edit("wf-1", map[string]any{"room": "2A", "note": "clerk hold"})
	e.publishRaw("hms.workflow.updated", []byte(v2), nil)
	// The consumer's pending count can lag a publish by a moment, so v2 is
	// settled once its final outcome is in the log and nothing is pending.
	e.waitFor("v2 settled", func() bool {
		for _, r := range e.logRecords("court") {
			if r.Version == "2" && r.Outcome != "retry" {
				a, p := e.pending("court")
				return a == 0 && p == 0
			}
		}
		return false
	})
	return e, court
}

func TestMergeKeepsTheirEditsAndOurs(t *testing.T) {
	_, court := runConflict(t, "{strategy: merge}",
		`{"id":"wf-1","version":2,"judge":"Reyes","room":"4B","status":"approved"}`)
	require.Equal(t, map[string]any{"id": "wf-1", "version": 2.0, "judge": "Reyes", "room": "2A",
		"status": "approved", "note": "clerk hold"}, court.record("wf-1"))
	require.Equal(t, 1, court.refused, "the stale If-Match was refused once, then the merge went over the new ETag")
}

func TestMergeBothChangedFollowsThePreferRuleOrParks(t *testing.T) {
	v2 := `{"id":"wf-1","version":2,"judge":"Okafor","room":"1C","status":"draft"}`
	_, court := runConflict(t, "{strategy: merge, fields: {room: {prefer: remote}}}", v2)
	require.Equal(t, "2A", court.record("wf-1")["room"], "prefer remote")

	e, court := runConflict(t, "{strategy: merge}", v2)
	require.Equal(t, "2A", court.record("wf-1")["room"], "nothing sent over the clerk's room")
	require.Empty(t, e.deadLetters("court"))
	parked, err := reconcile.ListConflicts(context.Background(), e.js, "court")
	require.NoError(t, err)
	require.Len(t, parked, 1, "parked on EXTSYNC_CONFLICTS for a person")
	c := parked[0]
	require.Equal(t, []string{"room"}, c.Fields)
	require.Equal(t, "1C", c.Local["room"])
	require.Equal(t, "2A", c.Remote["room"])
	require.Equal(t, "clerk hold", c.Merged["note"], "the merge of what does not collide")
	recs := e.logRecords("court")
	require.Equal(t, "conflict-parked", recs[len(recs)-1].Outcome)

	// The person takes the merge, with our room.
	require.NoError(t, reconcile.Resolve(context.Background(), e.js, c, reconcile.TakeMerged, "cli:alice@host"))
	e.waitFor("the merged record sent", func() bool { return court.record("wf-1")["room"] == "1C" })
	require.Equal(t, "clerk hold", court.record("wf-1")["note"])
	parked, err = reconcile.ListConflicts(context.Background(), e.js, "court")
	require.NoError(t, err)
	require.Empty(t, parked, "resolved: removed")
}

func TestManualParksEveryConflictAndResolveSendsTheChoice(t *testing.T) {
	e, court := runConflict(t, "{strategy: manual}",
		`{"id":"wf-1","version":2,"judge":"Reyes","room":"4B","status":"approved"}`)
	parked, err := reconcile.ListConflicts(context.Background(), e.js, "")
	require.NoError(t, err)
	require.Len(t, parked, 1)
	require.Equal(t, "Okafor", court.record("wf-1")["judge"], "nothing sent before a person decides")
	require.NoError(t, reconcile.Resolve(context.Background(), e.js, parked[0], reconcile.TakeLocal, "cli:alice@host"))
	e.waitFor("ours sent over theirs", func() bool { return court.record("wf-1")["judge"] == "Reyes" })
	require.Nil(t, court.record("wf-1")["note"], "local: the clerk's note is overwritten")
	e.waitFor("v2 logged delivered and the resolution audited", func() bool {
		var delivered, audited bool
		for _, r := range e.logRecords("court") {
			delivered = delivered || (r.Outcome == "delivered" && r.Version == "2")
			audited = audited || (r.Outcome == "admin" && r.Action == "conflicts resolve --take local")
		}
		return delivered && audited
	})
}

func TestOverwriteSendsOursOverTheirVersion(t *testing.T) {
	_, court := runConflict(t, "{strategy: overwrite}",
		`{"id":"wf-1","version":2,"judge":"Reyes","room":"4B","status":"approved"}`)
	require.Equal(t, map[string]any{"id": "wf-1", "version": 2.0, "judge": "Reyes", "room": "4B",
		"status": "approved"}, court.record("wf-1"))
}

func TestRemoteWinsKeepsTheirRecord(t *testing.T) {
	e, court := runConflict(t, "{strategy: remote-wins}",
		`{"id":"wf-1","version":2,"judge":"Reyes","room":"4B","status":"approved"}`)
	require.Equal(t, "Okafor", court.record("wf-1")["judge"])
	recs := e.logRecords("court")
	require.Equal(t, "conflict-skipped", recs[len(recs)-1].Outcome)
}

func TestRetryRuleWaitsOutPendingEdits(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 2 { // the court holds pending edits for two tries
			http.Error(w, `{"error":{"code":"PENDING_EDITS"}}`, http.StatusConflict)
		}
	}))
	t.Cleanup(srv.Close)
	e := newEnv(t)
	e.start(conflictDoc(srv.URL, "{strategy: retry}"), nil)
	e.publishRaw("hms.workflow.updated", []byte(`{"id":"wf-1","version":1}`), nil)
	e.waitFor("delivered on the third try", func() bool {
		recs := e.logRecords("court")
		return len(recs) == 3 && recs[2].Outcome == "delivered"
	})
	recs := e.logRecords("court")
	require.Equal(t, []string{"retry", "retry"}, []string{recs[0].Outcome, recs[1].Outcome})
	require.Equal(t, 409, recs[0].Status)
	require.Empty(t, e.deadLetters("court"))
}
