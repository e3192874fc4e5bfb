package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// CourtToken is the bearer token the simulator expects.
const CourtToken = "demo-court-token"

// Request is what the court simulator received.
type Request struct {
	Method, Path, IdempotencyKey, Authorization, Traceparent string
	Body                                                     map[string]any
	Status                                                   int
}

// Court simulates a court scheduling API: PUT and GET
// /api/v1/workflows/{id} (with ETags and pending edits, see records.go)
// and PUT /api/v1/hearings/{id}. It fails the first attempt for each id
// listed in FlakyOnce with a 503, and refuses a hearing without a
// courtroom.
type Court struct {
	FlakyOnce map[string]bool
	// OnRequest, if set, sees each request after it is answered.
	OnRequest func(Request)

	mu       sync.Mutex
	seen     map[string]int
	received []Request
	records  map[string]map[string]any // workflows, as stored
	versions map[string]int
}

// NewCourt returns a simulator that fails the listed ids once.
func NewCourt(flakyOnce ...string) *Court {
	c := &Court{FlakyOnce: map[string]bool{}, seen: map[string]int{},
		records: map[string]map[string]any{}, versions: map[string]int{}}
	for _, id := range flakyOnce {
		c.FlakyOnce[id] = true
	}
	return c
}

// Received returns every request so far.
func (c *Court) Received() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.received...)
}

// ServeHTTP implements http.Handler.
func (c *Court) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{
		Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Authorization: r.Header.Get("Authorization"), Traceparent: r.Header.Get("traceparent"),
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(raw, &req.Body)
	req.Status = c.answer(w, r, req)
	c.mu.Lock()
	c.received = append(c.received, req)
	c.mu.Unlock()
	if c.OnRequest != nil {
		c.OnRequest(req)
	}
}

func (c *Court) answer(w http.ResponseWriter, r *http.Request, req Request) int {
	reply := func(status int, msg string) int {
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		// msg carries ids from the request path: JSON-encode it, Go quoting is not JSON.
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
		return status
	}
	if req.Authorization != "Bearer "+CourtToken {
		return reply(http.StatusUnauthorized, "missing or wrong bearer token")
	}
	kind, id, ok := route(r.URL.Path)
	if ok && kind == "workflows" && r.Method == http.MethodGet {
		return c.workflow(w, r, id, nil)
	}
	if !ok || r.Method != http.MethodPut {
		return reply(http.StatusNotFound, "no such resource")
	}
	c.mu.Lock()
	c.seen[id]++
	n := c.seen[id]
	c.mu.Unlock()
	if c.FlakyOnce[id] && n == 1 {
		return reply(http.StatusServiceUnavailable, "scheduling database busy, try again shortly")
	}
	if kind == "hearings" {
		if room, _ := req.Body["courtroom"].(string); room == "" {
			return reply(http.StatusUnprocessableEntity, "courtroom is required for hearing "+id)
		}
	}
	if kind == "workflows" {
		return c.workflow(w, r, id, req.Body)
	}
	return reply(http.StatusOK, kind+" "+id+" updated")
}

func route(path string) (kind, id string, ok bool) {
	rest, found := strings.CutPrefix(path, "/api/v1/")
	if !found {
		return "", "", false
	}
	kind, id, found = strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") || (kind != "workflows" && kind != "hearings") {
		return "", "", false
	}
	return kind, id, true
}
