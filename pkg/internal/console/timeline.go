package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"

	"github.com/hms/extsync/pkg/synclog"
)

// maxTimeline bounds one timeline; an event or entity has far fewer
// records, so reaching it means the search was too wide.
const maxTimeline = 1000

var errEnough = errors.New("enough records")

type timelineRow struct {
	synclog.Record
	Trace trace
	// Body is the mapped record the attempt sent: the stored event under
	// the mapping version the record names ("" when not rebuilt).
	Body string
}

// maxBodies bounds the bodies one timeline rebuilds.
const maxBodies = 50

type timelineData struct {
	Event, Entity, Connector string
	Rows                     []timelineRow
	Truncated                bool
	Searched                 bool
	// Confirmed is, per connector, the record the system last confirmed
	// for the entity searched (extsync_state): the mapped body sent.
	Confirmed []confirmedRecord
}

type confirmedRecord struct {
	Connector, Version, Mapping, Body string
}

// maxConfirmed bounds the state reads of one timeline.
const maxConfirmed = 8

// timeline shows every sync log record of one event or entity, across
// connectors, attempts and replays, oldest first (synclog.Query, as
// `extsync log --event/--entity`).
func (c *Console) timeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := timelineData{Event: strings.TrimSpace(q.Get("event")), Entity: strings.TrimSpace(q.Get("entity")),
		Connector: strings.TrimSpace(q.Get("connector"))}
	if d.Event != "" || d.Entity != "" {
		d.Searched = true
		f := synclog.Filter{EventID: d.Event, Entity: d.Entity, Connector: d.Connector}
		err := synclog.Query(r.Context(), c.o.JS, f, func(rec synclog.Record) error {
			d.Rows = append(d.Rows, timelineRow{Record: rec, Trace: c.trace(rec.TraceID)})
			if len(d.Rows) == maxTimeline {
				return errEnough
			}
			return nil
		})
		if errors.Is(err, errEnough) {
			d.Truncated, err = true, nil
		}
		if err != nil {
			c.fail(w, r, http.StatusBadGateway, "Timeline", err)
			return
		}
		c.bodies(r.Context(), d.Rows)
		d.Confirmed = c.confirmed(r.Context(), d.Rows)
	}
	c.render(w, r, http.StatusOK, "timeline.html", page{Title: "Timeline", Nav: "timeline", Data: d})
}

// confirmed reads, for each connector and entity in rows, the record the
// system last confirmed; what cannot be read is left out.
func (c *Console) confirmed(ctx context.Context, rows []timelineRow) []confirmedRecord {
	state, err := reconcile.Open(ctx, c.o.JS, c.o.Replicas)
	if err != nil {
		return nil
	}
	seen := map[[2]string]bool{}
	var out []confirmedRecord
	for _, row := range rows {
		k := [2]string{row.Connector, row.Entity}
		if row.Entity == "" || seen[k] || len(seen) == maxConfirmed {
			continue
		}
		seen[k] = true
		st, err := state.Recall(ctx, row.Connector, row.Entity)
		if err != nil || st.Snapshot == nil {
			continue
		}
		body, _ := json.MarshalIndent(st.Snapshot, "", "  ")
		out = append(out, confirmedRecord{Connector: row.Connector + " · " + row.Entity, Version: st.Version,
			Mapping: st.Mapping, Body: string(body)})
	}
	return out
}

// sendAgain re-sends one delivered event through one connector, for a
// system that lost it: the event as stored, through the replay path as a
// repair (ordering lets its version through; the sync log records who
// asked).
func (c *Console) sendAgain(w http.ResponseWriter, r *http.Request) {
	connector := r.PostFormValue("connector")
	seq, err := strconv.ParseUint(r.PostFormValue("seq"), 10, 64)
	if err != nil || connector == "" {
		c.fail(w, r, http.StatusBadRequest, "Timeline", fmt.Errorf("send again needs a connector and a stream sequence"))
		return
	}
	stream := c.o.Stream
	if stream == "" {
		stream = "HMS_EVENTS"
	}
	who := whoOf(r).Actor
	run := "console:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := coherence.SendAgain(r.Context(), c.o.JS, stream, connector, seq, run, who); err != nil {
		c.fail(w, r, http.StatusBadGateway, "Timeline", fmt.Errorf("send event %d again through %s: %w", seq, connector, err))
		return
	}
	c.render(w, r, http.StatusOK, "dlq_done.html", page{Title: "Sent again", Nav: "timeline", Data: doneData{
		Message: fmt.Sprintf("Event %d is on its way to %s again; the timeline shows its attempt.", seq, connector)}})
}

// bodies rebuilds what each attempt sent: the event as stored in the
// event stream, mapped with the mapping version its record names. (A
// conflict rule's merge sends another record; the confirmed record below
// the timeline shows what the system took.)
func (c *Console) bodies(ctx context.Context, rows []timelineRow) {
	stream := c.o.Stream
	if stream == "" {
		stream = "HMS_EVENTS"
	}
	st, err := c.o.JS.Stream(ctx, stream)
	if err != nil {
		return
	}
	store, err := mapping.OpenStore(ctx, c.o.JS, c.o.Replicas)
	if err != nil {
		return
	}
	events := map[uint64]*event.Event{}
	for i := range rows[:min(len(rows), maxBodies)] {
		row := &rows[i]
		if row.StreamSeq == 0 || row.MappingVersion == "" || row.Outcome == synclog.OutcomeAdmin {
			continue
		}
		ev, ok := events[row.StreamSeq]
		if !ok {
			if raw, err := st.GetMsg(ctx, row.StreamSeq); err == nil {
				ev, _ = event.Decode(event.Message{Subject: raw.Subject, Stream: stream, Seq: raw.Sequence,
					Time: raw.Time, Header: raw.Header, Body: raw.Data}, event.Options{})
			}
			events[row.StreamSeq] = ev
		}
		if ev == nil {
			continue
		}
		m := mapping.New(nil)
		if row.MappingVersion != mapping.Identity {
			if m, err = store.Get(ctx, row.Connector, row.MappingVersion); err != nil {
				continue
			}
		}
		if body, err := m.Apply(ev.Data); err == nil {
			b, _ := json.MarshalIndent(body, "", "  ")
			row.Body = string(b)
		}
	}
}
