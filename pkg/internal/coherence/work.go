package coherence

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// work is one run of a check, shared by its workers.
type work struct {
	c      *Checker
	events *events
	rec    *recorder
	rep    *repairer
	limit  *rate.Limiter
	cancel context.CancelCauseFunc
	done   atomic.Int64
	// failing counts reads failed in a row, across workers.
	failing atomic.Int64
}

// errNoRecord says extsync keeps no delivered record of a named entity.
var errNoRecord = errors.New("extsync has no delivered record of this entity (none delivered yet, or the connector keeps none: records are kept under ordering entity or for kinds that read back)")

// check verifies one entity. The verdict is recorded only if the entity
// was not delivered again meanwhile; if it was, the entity is checked
// again, up to three times.
func (w *work) check(ctx context.Context, t target) Entity {
	e := Entity{Key: t.entity}
	if e.Key == "" {
		e.Key = t.stateKey
	}
	for range 3 {
		st, rev, err := w.c.States.Read(ctx, t.stateKey)
		if err != nil {
			return w.failed(ctx, e, err)
		}
		if rev == 0 || (st.Snapshot == nil && !st.Deleted) {
			if t.named {
				return w.failed(ctx, e, errNoRecord)
			}
			return Entity{} // removed since listed, or a first delivery under way
		}
		got, err := w.compare(ctx, &e, t, st)
		if err != nil {
			return w.failed(ctx, e, err)
		}
		w.failing.Store(0)
		err = w.c.States.SetDrifted(ctx, t.stateKey, st.Seq, got.State != InStep)
		if errors.Is(err, reconcile.ErrMoved) {
			continue
		}
		if err != nil {
			return w.failed(ctx, e, err)
		}
		w.record(got, st)
		if w.c.Repair && got.State != InStep {
			if err := w.rep.send(ctx, t.entity, st); err != nil {
				got.Error = err.Error()
			} else {
				got.Repaired = true
				w.recordRepair(got, st)
			}
		}
		return got
	}
	return w.failed(ctx, e, errors.New("the entity was delivered again during each of three checks"))
}

// compare reads the system's record of the entity and compares it with
// the one last delivered (st.Snapshot).
func (w *work) compare(ctx context.Context, e *Entity, t target, st reconcile.State) (Entity, error) {
	var d *connectors.Delivery
	var err error
	fromStream := t.entity == ""
	if fromStream { // a hashed key: the event names the entity
		if d, err = w.events.original(ctx, st); err != nil {
			return *e, fmt.Errorf("entity key not recoverable: %w", err)
		}
		e.Key = d.Event.Key
	} else {
		d = delivery(w.c.Connector, t.entity, st)
	}
	body, err := w.fetch(ctx, d)
	if err != nil && !fromStream && connectors.Classify(err) == connectors.Permanent && status(err) == 0 {
		// The record alone did not say where to read (a URL field that
		// is not mapped): read where the delivered event itself went.
		if orig, oerr := w.events.original(ctx, st); oerr == nil {
			d = orig
			body, err = w.fetch(ctx, d)
		}
	}
	if err != nil {
		e.Status = status(err)
		return *e, err
	}
	got := Entity{Key: e.Key, Status: d.Status}
	switch {
	case st.Deleted:
		expectGone(&got, st, body)
	case len(body) == 0:
		got.State, got.Fields = Missing, Diff(st.Record(), nil)
	default:
		if got.Fields = Diff(st.Record(), body); len(got.Fields) == 0 {
			got.State = InStep
		} else {
			got.State = Drifted
		}
	}
	return got, nil
}

// expectGone judges an entity whose last delivery deleted it: in step
// when the system has no record, drifted (with the system's fields and
// a reason) when it still holds one.
func expectGone(e *Entity, st reconcile.State, body map[string]any) {
	if len(body) == 0 {
		e.State = InStep
		return
	}
	e.State, e.Reason = Drifted, fmt.Sprintf("deleted (version %s) but the system still holds a record", st.Version)
	if st.Version == "" {
		e.Reason = "deleted but the system still holds a record"
	}
	e.Fields = []Field{}
	walk("", body, func(path string, v any) { e.Fields = append(e.Fields, Field{Field: path, System: v}) })
	sort.Slice(e.Fields, func(i, j int) bool { return e.Fields[i].Field < e.Fields[j].Field })
}

func (w *work) fetch(ctx context.Context, d *connectors.Delivery) (map[string]any, error) {
	if err := w.limit.Wait(ctx); err != nil {
		return nil, err
	}
	body, _, err := w.c.Remote.Fetch(ctx, d)
	return body, err
}

func status(err error) int {
	var de *connectors.DeliveryError
	if errors.As(err, &de) {
		return de.Status
	}
	return 0
}

// failed reports e's check as failed; past maxFailedInARow failures in
// a row the whole check stops with the last one. A check cut short by
// the end of the run is not reported at all.
func (w *work) failed(ctx context.Context, e Entity, err error) Entity {
	if ctx.Err() != nil {
		return Entity{}
	}
	e.State, e.Error = Failed, err.Error()
	if w.failing.Add(1) >= maxFailedInARow {
		w.cancel(fmt.Errorf("%d reads in a row failed, the last: %w", maxFailedInARow, err))
	}
	return e
}

func (w *work) record(e Entity, st reconcile.State) {
	rec := w.base(e, st)
	rec.Outcome = OutcomeVerified
	if e.State != InStep {
		rec.Outcome, rec.Error = OutcomeDrifted, summary(e)
	}
	w.rec.add(rec)
}

func (w *work) recordRepair(e Entity, st reconcile.State) {
	rec := w.base(e, st)
	rec.Outcome, rec.Error = OutcomeRepaired, "sent again: "+summary(e)
	w.rec.add(rec)
}

func (w *work) base(e Entity, st reconcile.State) *synclog.Record {
	return &synclog.Record{Time: time.Now().UTC(), Connector: w.c.Connector.Name, StreamSeq: st.Seq,
		Entity: e.Key, Version: st.Version, Status: e.Status, MappingVersion: st.Mapping,
		Actor: w.c.Actor, Action: ActionVerify}
}
