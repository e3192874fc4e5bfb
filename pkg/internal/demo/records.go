package demo

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The court keeps each workflow it was sent, with a version it answers as
// its ETag; a clerk at the court may edit one (PendingEdit). A PUT whose
// If-Match names an older version is refused with 409
// OVERLAPPING_ASSIGNMENT, the court's way of saying it holds edits of its
// own, and GET returns the record as it is now.

// PendingEdit changes fields of a workflow on the court's side, as the
// court's own clerk would.
func (c *Court) PendingEdit(id string, fields map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.records[id] == nil {
		c.records[id] = map[string]any{}
	}
	for k, v := range fields {
		c.records[id][k] = v
	}
	c.versions[id]++
}

// Workflow returns the court's record of a workflow.
func (c *Court) Workflow(id string) map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records[id]
}

func (c *Court) etag(id string) string { return strconv.Quote(strconv.Itoa(c.versions[id])) }

// workflow answers GET and PUT on a workflow record.
func (c *Court) workflow(w http.ResponseWriter, r *http.Request, id string, body map[string]any) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		if c.records[id] == nil {
			w.WriteHeader(http.StatusNotFound)
			return http.StatusNotFound
		}
		w.Header().Set("ETag", c.etag(id))
		_ = json.NewEncoder(w).Encode(c.records[id])
		return http.StatusOK
	}
	if m := r.Header.Get("If-Match"); c.records[id] != nil && m != c.etag(id) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":{"code":"OVERLAPPING_ASSIGNMENT","message":"the court holds pending edits of this workflow"}}` + "\n"))
		return http.StatusConflict
	}
	c.records[id] = body
	c.versions[id]++
	w.Header().Set("ETag", c.etag(id))
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": "workflows " + id + " updated"})
	return http.StatusOK
}
