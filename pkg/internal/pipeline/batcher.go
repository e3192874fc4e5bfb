package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/internal/batch"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// Subjects on which a batch connector's instances answer `extsync batch
// run` and status requests.
const (
	BatchRunSubject    = "extsync.batch.run."
	BatchStatusSubject = "extsync.batch.status."
)

// BatchStatus is what `connectors ls` and the admin API show of a batch
// connector on one instance.
type BatchStatus struct {
	NextRun    time.Time `json:"next_run"`
	Waiting    int       `json:"waiting"` // coalesced events waiting for the next run
	Sending    int       `json:"sending"` // events of the batch being sent now
	LastRun    time.Time `json:"last_run,omitzero"`
	LastResult string    `json:"last_result,omitempty"`
	LastEvents int       `json:"last_events,omitempty"`
}

// batcher collects a batch connector's events and sends them together.
type batcher struct {
	r      *Runner
	bc     connectors.BatchConnector
	order  *entityOrder // nil when ordering is none
	clock  batch.Clock
	sched  batch.Schedule
	max    int
	bytes  int
	runNow chan struct{}

	mu     sync.Mutex
	status BatchStatus
}

func newBatcher(r *Runner, order *entityOrder, clock batch.Clock) (*batcher, error) {
	bc, ok := r.conn.(connectors.BatchConnector)
	if !ok {
		return nil, fmt.Errorf("connector %q: kind %q cannot send batches; mode batch needs http (with bulk), sftp or sql",
			r.cfg.Name, r.cfg.Kind)
	}
	if clock == nil {
		clock = batch.RealClock{}
	}
	b := r.cfg.Batch
	hour, minute, _ := b.AtClock()
	return &batcher{
		r: r, bc: bc, order: order, clock: clock, max: b.MaxEvents, bytes: int(b.MaxBytes),
		sched:  batch.Schedule{Period: b.Every.D(), Hour: hour, Minute: minute, Loc: b.Location()},
		runNow: make(chan struct{}, 1),
	}, nil
}

// Status reports the batch connector's state on this instance.
func (b *batcher) Status() BatchStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *batcher) update(fn func(*BatchStatus)) {
	b.mu.Lock()
	fn(&b.status)
	b.mu.Unlock()
}

// trigger asks for a run now (`extsync batch run`).
func (b *batcher) trigger() {
	select {
	case b.runNow <- struct{}{}:
	default: // one is already asked for
	}
}

// serveRequests answers run and status requests until the returned stop.
func (b *batcher) serveRequests(nc *nats.Conn) (stop func()) {
	reply := func(m *nats.Msg) {
		body, _ := json.Marshal(b.Status())
		_ = m.Respond(body)
	}
	run, err1 := nc.Subscribe(BatchRunSubject+b.r.cfg.Name, func(m *nats.Msg) { b.trigger(); reply(m) })
	st, err2 := nc.Subscribe(BatchStatusSubject+b.r.cfg.Name, reply)
	if err := errors.Join(err1, err2); err != nil {
		b.r.settler.obs.log.Warn("batch run/status requests not served", "err", err)
	}
	return func() {
		for _, s := range []*nats.Subscription{run, st} {
			if s != nil {
				_ = s.Unsubscribe()
			}
		}
	}
}

// feed moves messages from the consumers to the batcher's loop.
func feed(ctx context.Context, it jetstream.MessagesContext, out chan<- jetstream.Msg, log func(error)) {
	next := broker.NewIter(it)
	for {
		m, err := next.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			log(err)
			if consumerGone(err) {
				return // nothing more will come; the runner is stopped by its context
			}
			continue
		}
		select {
		case out <- m:
		case <-ctx.Done():
			_ = m.Nak()
		}
	}
}

// run collects events until the schedule fires, a size limit is reached
// or a run is asked for, then sends them as one batch while the next one
// fills. On shutdown the batch being sent finishes (or is handed back),
// and what was waiting is handed back to JetStream at once.
func (b *batcher) run(ctx context.Context, events, replays jetstream.MessagesContext) error {
	stopServing := b.serveRequests(b.r.js.Conn())
	defer stopServing()
	msgs := make(chan jetstream.Msg, 64)
	var feeders sync.WaitGroup
	for _, it := range []jetstream.MessagesContext{events, replays} {
		feeders.Go(func() { feed(ctx, it, msgs, func(err error) { b.r.settler.obs.log.Warn("consume", "err", err) }) })
	}
	pending := batch.NewCoalescer[*job]()
	keepalive := time.NewTicker(max(b.r.limits.ackWait/3, time.Second))
	defer keepalive.Stop()
	var sending chan struct{} // closed when the batch being sent is settled
	due := b.nextDue()
	for {
		// A full batch waiting behind one being sent stops the reading:
		// the next messages stay with JetStream (unacked, not expiring).
		in := msgs
		if pending.Len() >= b.max || pending.Bytes() >= b.bytes {
			in = nil
		}
		select {
		case <-ctx.Done():
			events.Drain()
			replays.Drain()
			feeders.Wait()
			b.handBack(pending.Take(), msgs)
			if sending != nil {
				<-sending
			}
			return nil
		case m := <-in:
			b.add(ctx, pending, m)
		case <-due:
			due = b.nextDue()
			sending = b.flush(ctx, pending, sending, true)
		case <-b.runNow:
			sending = b.flush(ctx, pending, sending, true)
		case <-sending:
			sending = nil
		case <-keepalive.C:
			for _, it := range pending.Peek() {
				_ = it.Value.msg.InProgress()
			}
		}
		if pending.Len() >= b.max || pending.Bytes() >= b.bytes {
			sending = b.flush(ctx, pending, sending, false)
		}
		b.update(func(s *BatchStatus) { s.Waiting = pending.Len() })
	}
}

func (b *batcher) nextDue() <-chan time.Time {
	now := b.clock.Now()
	next := b.sched.Next(now)
	b.update(func(s *BatchStatus) { s.NextRun = next })
	return b.clock.After(next.Sub(now))
}

// add runs one message through the connector's chain up to the batch
// (decode, map, the stale-version check) and coalesces it: a newer
// version of the same entity replaces an older one, which is settled as
// superseded. A message the chain refuses is settled alone.
func (b *batcher) add(ctx context.Context, pending *batch.Coalescer[*job], m jetstream.Msg) {
	r := b.r
	j, err := r.decoder.job(m)
	if err != nil {
		r.settler.obs.log.Error("message without JetStream metadata", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if err := r.chain(ctx, j); err != nil {
		r.settler.settle(outcome{j: j, err: err})
		return
	}
	old := pending.Add(batch.Item[*job]{Key: j.entity.key, Version: j.ev.Version, Seq: j.meta.Sequence.Stream,
		Size: len(m.Data()), Value: j})
	if old != nil {
		err := fmt.Errorf("%w: version %s replaced it in the batch", reconcile.ErrSuperseded, j.ev.Version)
		r.settler.settle(outcome{j: old.Value, err: err})
	}
}

// flush starts sending what is waiting unless a batch is being sent (the
// size check asks again once it is done). It returns the channel closed
// when the new batch is settled.
func (b *batcher) flush(ctx context.Context, pending *batch.Coalescer[*job], sending chan struct{}, scheduled bool) chan struct{} {
	if sending != nil || pending.Len() == 0 {
		if pending.Len() == 0 && scheduled {
			b.update(func(s *BatchStatus) { s.LastRun, s.LastResult, s.LastEvents = b.clock.Now(), "nothing to send", 0 })
		}
		return sending
	}
	items := pending.Take()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.send(ctx, items)
	}()
	return done
}

// handBack naks what was waiting so another instance (or this one after
// a restart) takes it now rather than after the ack wait.
func (b *batcher) handBack(items []batch.Item[*job], msgs <-chan jetstream.Msg) {
	for _, it := range items {
		_ = it.Value.msg.Nak()
	}
	for {
		select {
		case m := <-msgs:
			_ = m.Nak()
		default:
			return
		}
	}
}

var errShutdown = errors.New("shutting down before the batch could be sent again")
