package pipeline

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// logGroup is one sync log message on its way to JetStream and the
// outcomes it records.
type logGroup struct {
	fut   jetstream.PubAckFuture // nil when the record could not be sent
	items []outcome
	// releases[i] confirms items[i]'s entity release (nil: none).
	releases []reconcile.Pending
	deadline time.Time
}

// Bounds of one group: the outcomes that finish within groupLinger of
// its first one (or while the last group was being written), up to a
// count and a size; more wait for the next group. The linger costs an
// outcome at most a millisecond before its ack, never before its
// delivery, and at one worker it turns one publish, PubAck, store write
// and ack flush per event into one per several.
const (
	maxGroupRecords = 256
	maxGroupBytes   = 256 << 10
	groupLinger     = time.Millisecond
)

// acker records and acks behind the workers, so neither the sync log's
// round trip nor its per-message cost is on the delivery path. Its
// batch goroutine writes the outcomes waiting as one sync log message; the waiter
// waits for each message's PubAck and only then acks, naks or terminates
// the messages it records: "acked only after its outcome is durable".
type acker struct {
	s      *settler
	log    logWriter
	queue  chan outcome
	groups chan logGroup
	done   chan struct{}
}

// logWriter appends sync log records; *synclog.Writer implements it.
type logWriter interface {
	AppendAsync(recs []*synclog.Record) (jetstream.PubAckFuture, error)
}

func newAcker(s *settler, log logWriter, capacity int) *acker {
	a := &acker{
		s:      s,
		log:    log,
		queue:  make(chan outcome, capacity),
		groups: make(chan logGroup, 64),
		done:   make(chan struct{}),
	}
	go a.batch()
	go a.wait()
	return a
}

// add blocks when the queue is full: the broker is slower than the
// workers, and they should wait for it rather than pile up records.
func (a *acker) add(o outcome) { a.queue <- o }

// stop settles everything handed over so far, then returns. Call it once
// no worker can add any more.
func (a *acker) stop() {
	close(a.queue)
	<-a.done
}

func (a *acker) batch() {
	defer close(a.groups)
	recs := make([]*synclog.Record, 0, maxGroupRecords)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for first := range a.queue {
		// Sleep through the linger rather than wait on the queue: a
		// goroutine waiting on a channel is woken by every send, which at
		// one worker would be a wake-up per delivery. Outcomes that
		// arrive meanwhile wait in the queue's buffer and are taken below.
		linger.Reset(groupLinger)
		<-linger.C
		a.s.record(&first)
		items := a.take(first)
		recs = recs[:0]
		for _, p := range items {
			recs = append(recs, p.rec)
		}
		fut, err := a.log.AppendAsync(recs)
		if err != nil {
			a.s.obs.log.Error("sync log not written; its events will be redelivered", "events", len(items), "err", err)
		}
		a.groups <- logGroup{fut: fut, items: items, releases: a.releases(items), deadline: time.Now().Add(settleTimeout)}
	}
}

// take groups first (accounted) with the outcomes waiting in the queue,
// up to a group's bounds, without waiting for more.
func (a *acker) take(first outcome) []outcome {
	items := []outcome{first}
	size := approxRecordBytes(first.rec)
	for len(items) < maxGroupRecords && size < maxGroupBytes {
		select {
		case p, ok := <-a.queue:
			if !ok {
				return items
			}
			a.s.record(&p)
			items = append(items, p)
			size += approxRecordBytes(p.rec)
		default:
			return items
		}
	}
	return items
}

// releases starts the entity releases of items, written beside their
// records and confirmed with them.
func (a *acker) releases(items []outcome) []reconcile.Pending {
	var out []reconcile.Pending
	for i := range items {
		if p := a.s.releaseAsync(&items[i]); p != nil {
			if out == nil {
				out = make([]reconcile.Pending, len(items))
			}
			out[i] = p
		}
	}
	return out
}

func approxRecordBytes(r *synclog.Record) int {
	return 256 + len(r.Error) + len(r.EventID) + len(r.Entity) + len(r.Subject)
}

func (a *acker) wait() {
	defer close(a.done)
	for g := range a.groups {
		ctx, cancel := context.WithDeadline(context.Background(), g.deadline)
		stored := a.stored(ctx, g)
		for i, o := range g.items {
			released := true
			if g.releases != nil && g.releases[i] != nil {
				if err := g.releases[i].Wait(ctx); err != nil {
					released = false
					a.s.obs.eventLog(o.rec).Warn("entity state not updated; the event will be redelivered", "err", err)
				}
			}
			if stored && released {
				a.s.ack(o)
			}
		}
		cancel()
	}
}

// stored waits for g's sync log record to be confirmed.
func (a *acker) stored(ctx context.Context, g logGroup) bool {
	if g.fut == nil {
		return false
	}
	select {
	case <-g.fut.Ok():
		return true
	case err := <-g.fut.Err():
		a.s.obs.log.Error("sync log not written; its events will be redelivered", "events", len(g.items), "err", err)
	case <-ctx.Done():
		a.s.obs.log.Error("sync log not confirmed in time; its events will be redelivered",
			"events", len(g.items), "timeout", settleTimeout)
	}
	return false
}
