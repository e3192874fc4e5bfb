package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/internal/reconcile"
)

type fieldRow struct {
	Field                      string
	Base, Local, Remote, Merge any
	Collides                   bool
}

type conflictView struct {
	reconcile.Conflict
	Rows []fieldRow
}

// fieldRows lines the four versions of a conflict up by field, the
// colliding ones marked.
func fieldRows(c reconcile.Conflict) []fieldRow {
	keys := map[string]bool{}
	for _, m := range []map[string]any{c.Base, c.Local, c.Remote, c.Merged} {
		for k := range m {
			keys[k] = true
		}
	}
	var rows []fieldRow
	for k := range keys {
		rows = append(rows, fieldRow{Field: k, Base: c.Base[k], Local: c.Local[k], Remote: c.Remote[k], Merge: c.Merged[k],
			Collides: slices.Contains(c.Fields, k)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Field < rows[j].Field })
	return rows
}

func (c *Console) conflicts(w http.ResponseWriter, r *http.Request) {
	cs, err := reconcile.ListConflicts(r.Context(), c.o.JS, r.URL.Query().Get("connector"))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = nil // no connector has parked one yet
	}
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Conflicts", err)
		return
	}
	views := make([]conflictView, len(cs))
	for i, cf := range cs {
		views[i] = conflictView{Conflict: cf, Rows: fieldRows(cf)}
	}
	c.render(w, r, http.StatusOK, "conflicts.html", page{Title: "Conflicts", Nav: "conflicts", Data: views})
}

// resolve finishes one conflict with reconcile.Resolve, as `extsync
// conflicts resolve --take` does.
func (c *Console) resolve(w http.ResponseWriter, r *http.Request) {
	take := r.PostFormValue("take")
	if take != reconcile.TakeLocal && take != reconcile.TakeRemote && take != reconcile.TakeMerged {
		c.fail(w, r, http.StatusBadRequest, "Conflicts", fmt.Errorf("take %q: want local, remote or merged", take))
		return
	}
	seq := r.PostFormValue("seq")
	cs, err := reconcile.ListConflicts(r.Context(), c.o.JS, "")
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Conflicts", err)
		return
	}
	i := slices.IndexFunc(cs, func(cf reconcile.Conflict) bool { return strconv.FormatUint(cf.Seq, 10) == seq })
	if i < 0 {
		c.fail(w, r, http.StatusNotFound, "Conflicts", fmt.Errorf("no parked conflict %q (resolved meanwhile?); nothing was changed", seq))
		return
	}
	cf := cs[i]
	if err := reconcile.Resolve(r.Context(), c.o.JS, cf, take, whoOf(r).Actor); err != nil {
		c.fail(w, r, http.StatusBadGateway, "Conflicts", fmt.Errorf("resolve conflict %d: %w", cf.Seq, err))
		return
	}
	c.render(w, r, http.StatusOK, "dlq_done.html", page{Title: "Conflict resolved", Nav: "conflicts", Data: doneData{
		Message: fmt.Sprintf("Conflict %d of %s (%s) resolved: %s.", cf.Seq, cf.Entity, cf.Connector, take)}})
}
