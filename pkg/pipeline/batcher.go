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
	"github.com/hms/extsync/pkg/batch"
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
	for {
		m, err := it.Next()
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
