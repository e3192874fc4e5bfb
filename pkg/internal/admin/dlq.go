package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

// dlqFilter reads connector, since, until, id (repeatable or
// comma-separated), status and reason from the query.
func dlqFilter(r *http.Request) (deadletter.Filter, error) {
	q := r.URL.Query()
	now := time.Now()
	since, err := config.ParseTime(q.Get("since"), now)
	if err != nil {
		return deadletter.Filter{}, fmt.Errorf("since %w", err)
	}
	until, err := config.ParseTime(q.Get("until"), now)
	if err != nil {
		return deadletter.Filter{}, fmt.Errorf("until %w", err)
	}
	var ids []string
	for _, v := range q["id"] {
		ids = append(ids, strings.Split(v, ",")...)
	}
	return deadletter.Filter{Connector: q.Get("connector"), Since: since, Until: until, IDs: ids,
		Status: q.Get("status"), Reason: q.Get("reason")}, nil
}

func (o Ops) listDLQ(w http.ResponseWriter, r *http.Request) {
	f, err := dlqFilter(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := deadletter.Collect(r.Context(), o.JS, f)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	if entries == nil {
		entries = []deadletter.Entry{}
	}
	for i := range entries {
		entries[i].Body = nil // the list is a summary; the CLI's show has bodies
	}
	WriteJSON(w, http.StatusOK, entries)
}

// action reads a replay or purge request; ok is false when it answered.
func (o Ops) action(w http.ResponseWriter, r *http.Request) (a deadletter.Action, dryRun, ok bool) {
	f, err := dlqFilter(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return a, false, false
	}
	q := r.URL.Query()
	if !selective(q) && q.Get("all") != "true" {
		WriteError(w, http.StatusBadRequest, "no filter given: set connector, since, until, id, status or reason, or all=true")
		return a, false, false
	}
	if !o.knownConnector(w, r, f.Connector) {
		return a, false, false
	}
	a = deadletter.Action{Filter: f, Actor: Caller(r)}
	if rate := q.Get("rate"); rate != "" {
		rt, err := config.ParseRate(rate)
		if err != nil {
			WriteError(w, http.StatusBadRequest, "rate: "+err.Error())
			return a, false, false
		}
		a.Every = rt.Per / time.Duration(rt.N)
	}
	switch m := q.Get("mapping"); m {
	case "", deadletter.MappingCurrent, deadletter.MappingOriginal:
		a.Mapping = m
	default:
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("mapping %q: want original or current", m))
		return a, false, false
	}
	dryRun, _ = strconv.ParseBool(q.Get("dry_run"))
	return a, dryRun, true
}

// knownConnector answers 404 for a connector that is neither in the
// connector store nor has dead letters: a misspelt name would select
// nothing, and "0 replayed" would read as done.
func (o Ops) knownConnector(w http.ResponseWriter, r *http.Request, name string) bool {
	if name == "" {
		return true
	}
	err := deadletter.CheckConnector(r.Context(), o.JS, name)
	switch {
	case errors.Is(err, deadletter.ErrNoConnector):
		WriteError(w, http.StatusNotFound, err.Error())
	case err != nil:
		WriteError(w, http.StatusBadGateway, err.Error())
	}
	return err == nil
}

func selective(q url.Values) bool {
	for _, k := range []string{"connector", "since", "until", "id", "status", "reason"} {
		if q.Get(k) != "" {
			return true
		}
	}
	return false
}

// A replay or purge request lasts as long as the action; a client that
// goes away stops it, and what was done by then is settled and recorded.
func (o Ops) replayDLQ(w http.ResponseWriter, r *http.Request) {
	a, dryRun, ok := o.action(w, r)
	if !ok {
		return
	}
	if dryRun {
		entries, err := deadletter.PlanReplay(r.Context(), o.JS, a.Filter)
		answerDryRun(w, "would_be_replayed", entries, err)
		return
	}
	res, err := deadletter.RunReplay(r.Context(), o.JS, a)
	answer(w, map[string]any{"replayed": res.Sent(), "gone": res.Gone}, err)
}

func (o Ops) purgeDLQ(w http.ResponseWriter, r *http.Request) {
	a, dryRun, ok := o.action(w, r)
	if !ok {
		return
	}
	if dryRun {
		entries, err := deadletter.Select(r.Context(), o.JS, a.Filter)
		answerDryRun(w, "would_be_purged", entries, err)
		return
	}
	n, err := deadletter.PurgeSelected(r.Context(), o.JS, a)
	answer(w, map[string]any{"purged": n}, err)
}

func answerDryRun(w http.ResponseWriter, key string, entries []deadletter.Entry, err error) {
	if err != nil {
		answer(w, nil, err)
		return
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.EventID
	}
	WriteJSON(w, http.StatusOK, map[string]any{"dry_run": true, key: len(entries), "event_ids": ids})
}

// answer writes what an action did, or why it did nothing: 404 for an id
// that names no dead letter, 409 for a connector that no longer runs,
// 502 when NATS failed (with what was done by then).
func answer(w http.ResponseWriter, done map[string]any, err error) {
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, deadletter.ErrNoConnector):
		WriteError(w, http.StatusConflict, err.Error())
	case err != nil:
		if done == nil {
			done = map[string]any{}
		}
		done["error"] = err.Error()
		WriteJSON(w, http.StatusBadGateway, done)
	default:
		WriteJSON(w, http.StatusOK, done)
	}
}
