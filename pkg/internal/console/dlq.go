package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

// pageSize is how many dead letters one page shows.
const pageSize = 50

// filterKeys are the dead-letter filter's fields, as the API and the CLI
// name them.
var filterKeys = []string{"connector", "since", "until", "status", "reason", "id"}

// dlqFilter reads the filter from the query or form, as /api/v1/dlq
// reads it.
func dlqFilter(q url.Values, now time.Time) (deadletter.Filter, error) {
	since, err := config.ParseTime(q.Get("since"), now)
	if err != nil {
		return deadletter.Filter{}, fmt.Errorf("since %w", err)
	}
	until, err := config.ParseTime(q.Get("until"), now)
	if err != nil {
		return deadletter.Filter{}, fmt.Errorf("until %w", err)
	}
	status := q.Get("status")
	if status != "" && status != "permanent" && status != "exhausted" {
		return deadletter.Filter{}, fmt.Errorf("status %q: want permanent or exhausted", status)
	}
	var ids []string
	for _, v := range q["id"] {
		for id := range strings.SplitSeq(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return deadletter.Filter{Connector: strings.TrimSpace(q.Get("connector")), Since: since, Until: until, IDs: ids,
		Status: status, Reason: q.Get("reason")}, nil
}

// filterValues keeps only the filter's fields of q, for links and
// hidden fields.
func filterValues(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range filterKeys {
		for _, v := range q[k] {
			if v != "" {
				out.Add(k, v)
			}
		}
	}
	return out
}

type dlqListData struct {
	Filter     url.Values
	Entries    []deadletter.Entry
	Next       template.URL // the next page, "" on the last
	First      template.URL // the first page, "" on it
	Depth      []depthRow
	Total      uint64
	Connectors []string
	Replays    []replayView // under way on this instance
}

type depthRow struct {
	Connector string
	N         uint64
}

func (c *Console) dlqList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := dlqFilter(q, time.Now())
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "Dead letters", err)
		return
	}
	after, _ := strconv.ParseUint(q.Get("after"), 10, 64)
	entries, next, err := deadletter.Page(r.Context(), c.o.JS, f, after, pageSize)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Dead letters", err)
		return
	}
	d := dlqListData{Filter: filterValues(q), Entries: entries, Replays: c.replays.running()}
	if next > 0 {
		nq := filterValues(q)
		nq.Set("after", strconv.FormatUint(next, 10))
		d.Next = dlqURL(nq)
	}
	if after > 0 {
		d.First = dlqURL(filterValues(q))
	}
	depth, err := deadletter.Depth(r.Context(), c.o.JS)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Dead letters", err)
		return
	}
	for name, n := range depth {
		d.Depth = append(d.Depth, depthRow{name, n})
		d.Connectors = append(d.Connectors, name)
		d.Total += n
	}
	sort.Slice(d.Depth, func(i, j int) bool { return d.Depth[i].Connector < d.Depth[j].Connector })
	sort.Strings(d.Connectors)
	c.render(w, r, http.StatusOK, "dlq.html", page{Title: "Dead letters", Nav: "dlq", Data: d})
}

// dlqURL is the list's URL for q: built here from encoded values, so
// the template may use it as a whole href.
func dlqURL(q url.Values) template.URL {
	if len(q) == 0 {
		return "/dlq"
	}
	return template.URL("/dlq?" + q.Encode()) // #nosec G203 -- path fixed here, query encoded by url.Values
}

type dlqShowData struct {
	deadletter.Entry
	Trace trace
	Body  string
}

func (c *Console) dlqShow(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "Dead letter", fmt.Errorf("dead letter %q: want its sequence number", r.PathValue("seq")))
		return
	}
	e, err := deadletter.Get(r.Context(), c.o.JS, seq)
	switch {
	case errors.Is(err, deadletter.ErrNotFound):
		c.fail(w, r, http.StatusNotFound, "Dead letter", fmt.Errorf("%w (replayed or purged?)", err))
		return
	case err != nil:
		c.fail(w, r, http.StatusBadGateway, "Dead letter", err)
		return
	}
	d := dlqShowData{Entry: e, Trace: c.trace(traceOf(e.Header.Get(deadletter.HeaderTraceparent))), Body: prettyJSON(e.Body)}
	c.render(w, r, http.StatusOK, "dlq_show.html", page{Title: fmt.Sprintf("Dead letter %d", seq), Nav: "dlq", Data: d})
}
