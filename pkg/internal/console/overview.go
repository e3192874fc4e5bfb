package console

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/hms/extsync/pkg/internal/pipeline"
)

// badge is one word of a connector's state; Level picks its colour, and
// the word itself says it (colour is never the only sign).
type badge struct {
	Text, Level string // ok, warn, bad
	Title       string
}

type connectorRow struct {
	pipeline.ConnectorStatus
	Badges   []badge
	LastHour *spark // nil: no attempt in the last hour
}

type overviewData struct {
	Rows     []connectorRow
	Degraded int
	At       time.Time
	Activity activityData
}

func badges(st pipeline.ConnectorStatus) []badge {
	var out []badge
	switch {
	case !st.Running:
		out = append(out, badge{"stopped", "bad", "not consuming on this instance"})
	case st.Degraded:
		out = append(out, badge{"degraded", "bad", "every attempt has failed since " + st.FailingSince.UTC().Format(time.RFC3339)})
	default:
		out = append(out, badge{"running", "ok", ""})
	}
	switch st.Breaker {
	case "open":
		out = append(out, badge{"breaker open", "bad", "no requests until the breaker's delay passes"})
	case "half-open":
		out = append(out, badge{"breaker half-open", "warn", "trying a few requests"})
	}
	if st.RegistryError != "" {
		out = append(out, badge{"registry error", "warn", st.RegistryError})
	}
	return out
}

func (c *Console) overviewData(ctx context.Context) overviewData {
	sts := c.o.Status(ctx)
	d := overviewData{At: time.Now().UTC(), Activity: c.activity(ctx)}
	for _, st := range sts {
		row := connectorRow{ConnectorStatus: st, Badges: badges(st), LastHour: d.Activity.LastHour[st.Name]}
		if st.Degraded || !st.Running || st.Breaker == "open" {
			d.Degraded++
		}
		d.Rows = append(d.Rows, row)
	}
	// Trouble first, then by name: a degraded connector is at the top.
	sort.SliceStable(d.Rows, func(i, j int) bool {
		ti, tj := d.Rows[i].Badges[0].Level != "ok", d.Rows[j].Badges[0].Level != "ok"
		if ti != tj {
			return ti
		}
		return d.Rows[i].Name < d.Rows[j].Name
	})
	return d
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	d := c.overviewData(r.Context())
	c.render(w, r, http.StatusOK, "overview.html", page{Title: "Overview", Nav: "overview",
		Refresh: int(c.o.Refresh / time.Second), Data: d})
}
