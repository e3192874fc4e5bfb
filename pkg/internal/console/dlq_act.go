package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

// sampleSize is how many of the selected dead letters a dry run lists.
const sampleSize = 10

type confirmData struct {
	Action  string // replay or purge
	Filter  url.Values
	Count   int
	Sample  []deadletter.Entry
	Summary string
}

// dlqConfirm is the dry run: how many dead letters the filter selects
// now and a sample of them, with the form that acts on exactly that
// selection (its until is pinned to now, so letters parked later are not
// taken along).
func (c *Console) dlqConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	action := q.Get("action")
	if action != "replay" && action != "purge" {
		c.fail(w, r, http.StatusBadRequest, "Dead letters", fmt.Errorf("action %q: want replay or purge", action))
		return
	}
	now := time.Now().UTC()
	fv := filterValues(q)
	if fv.Get("until") == "" {
		fv.Set("until", now.Format(time.RFC3339Nano))
	}
	f, err := dlqFilter(fv, now)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "Dead letters", err)
		return
	}
	var entries []deadletter.Entry
	if action == "replay" {
		entries, err = deadletter.PlanReplay(r.Context(), c.o.JS, f) // as --dry-run and dry_run=true
	} else {
		entries, err = deadletter.Select(r.Context(), c.o.JS, f)
	}
	if err != nil {
		c.fail(w, r, statusOf(err), "Dry run", err)
		return
	}
	d := confirmData{Action: action, Filter: fv, Count: len(entries), Sample: entries[:min(len(entries), sampleSize)],
		Summary: summary(filterValues(q))}
	c.render(w, r, http.StatusOK, "dlq_confirm.html", page{Title: "Dry run: " + action, Nav: "dlq", Data: d})
}

// summary says in words what a filter selects.
func summary(q url.Values) string {
	if len(q) == 0 {
		return "every dead letter"
	}
	return "dead letters with " + q.Encode()
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, deadletter.ErrNoConnector):
		return http.StatusConflict
	}
	return http.StatusBadGateway
}

type doneData struct {
	Message string
	Filter  url.Values
	Err     string
}

// dlqReplay starts a replay of the confirmed selection through
// deadletter.RunReplay, as `extsync dlq replay` and POST /api/v1/dlq/replay
// do, in the background: it runs on when the request ends, and the
// browser is sent to its progress page.
func (c *Console) dlqReplay(w http.ResponseWriter, r *http.Request) {
	f, err := dlqFilter(r.PostForm, time.Now())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "Replay", err)
		return
	}
	a := deadletter.Action{Filter: f, Actor: whoOf(r).Actor}
	if rate := r.PostFormValue("rate"); rate != "" {
		rt, err := config.ParseRate(rate)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "Replay", fmt.Errorf("rate: %w", err))
			return
		}
		a.Every = rt.Per / time.Duration(rt.N)
	}
	switch m := r.PostFormValue("mapping"); m {
	case "", deadletter.MappingCurrent, deadletter.MappingOriginal:
		a.Mapping = m
	default:
		c.fail(w, r, http.StatusBadRequest, "Replay", fmt.Errorf("mapping %q: want original or current", m))
		return
	}
	j := &replayJob{actor: a.Actor, summary: summary(filterValues(r.PostForm)), filter: filterValues(r.PostForm),
		rate: r.PostFormValue("rate"), mapping: a.Mapping}
	if j.mapping == "" {
		j.mapping = deadletter.MappingCurrent
	}
	run := func(ctx context.Context, a deadletter.Action) (deadletter.Result, error) {
		return deadletter.RunReplay(ctx, c.o.JS, a)
	}
	if err := c.replays.start(run, a, j); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Replay", err)
		return
	}
	http.Redirect(w, r, "/dlq/replays/"+j.id, http.StatusSeeOther)
}

// dlqPurge deletes the confirmed selection through
// deadletter.PurgeSelected, as the CLI and the API do.
func (c *Console) dlqPurge(w http.ResponseWriter, r *http.Request) {
	f, err := dlqFilter(r.PostForm, time.Now())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "Purge", err)
		return
	}
	n, err := deadletter.PurgeSelected(r.Context(), c.o.JS, deadletter.Action{Filter: f, Actor: whoOf(r).Actor})
	d := doneData{Filter: filterValues(r.PostForm), Message: "Purged " + letters(n) + "."}
	status := http.StatusOK
	if err != nil {
		status, d.Err = statusOf(err), err.Error()
	}
	c.render(w, r, status, "dlq_done.html", page{Title: "Purge", Nav: "dlq", Data: d})
}
