package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// intake holds the messages a consumer delivered until a worker takes
// them, and keeps each one alive meanwhile.
//
// The client's iterator buffers up to a pull batch of messages that no
// one can reach. While every worker waited (an open breaker, a slow
// system) those sat past the ack wait, JetStream sent them again, and
// when the workers freed up both copies were delivered. Reading the
// iterator at once into this queue leaves nothing unreachable: the queue
// is bounded by the consumer's MaxAckPending, and the feeder tells
// JetStream "in progress" for any message that has waited a third of the
// ack wait.
type intake struct {
	// budget bounds the queued jobs' bytes (and those waiting behind
	// their entity) where MaxAckPending bounds only their number.
	budget *budget
	mu     sync.Mutex
	queue  []*job
	// ready wakes the feeder when a job is queued or the reader is done.
	ready chan struct{}
	done  bool // the reader has stopped: nothing more will be queued
}

func newIntake(b *budget) *intake { return &intake{budget: b, ready: make(chan struct{}, 1)} }

func (in *intake) put(j *job) {
	in.mu.Lock()
	in.queue = append(in.queue, j)
	in.mu.Unlock()
	in.wake()
}

func (in *intake) wake() {
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

// finish says the reader has stopped.
func (in *intake) finish() {
	in.mu.Lock()
	in.done = true
	in.mu.Unlock()
	in.wake()
}

// head is the oldest queued job (nil when none) and whether the reader
// has stopped.
func (in *intake) head() (*job, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.queue) == 0 {
		return nil, in.done
	}
	return in.queue[0], in.done
}

func (in *intake) pop() {
	in.mu.Lock()
	in.queue[0] = nil
	in.queue = in.queue[1:]
	if len(in.queue) == 0 {
		in.queue = in.queue[:0:0] // let the backing array go after a burst
	}
	in.mu.Unlock()
}

// refresh tells JetStream that every job queued longer than after is
// still being worked on.
func (in *intake) refresh(now time.Time, after time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, j := range in.queue {
		j.keepAliveAfter(now, after)
	}
}

// nakAll hands every queued message back to JetStream (shutting down).
func (in *intake) nakAll() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, j := range in.queue {
		_ = j.msg.Nak()
		j.release()
	}
	in.queue = nil
}

// admit takes j's entity for j, in stream order: the feeder is the one
// goroutine that sees the jobs in that order. (Admitting in the workers
// let two of them, handed an entity's jobs a moment apart, admit the
// later first and send it first.) False means j now waits behind the job
// holding its entity, and that job's worker will run it.
func (r *Runner) admit(j *job) bool {
	if r.keys == nil || j.key == "" || j.admitted {
		return true
	}
	if !r.keys.admit(j) {
		return false
	}
	j.admitted = true
	return true
}

// handBack returns the intake's jobs to JetStream as the feeder stops. A
// head job already admitted holds its entity with no worker to run it,
// so the jobs queued behind it go back too.
func (r *Runner) handBack(in *intake) {
	if j, _ := in.head(); j != nil && j.admitted && r.keys != nil {
		for _, w := range r.keys.drop(j.key) {
			_ = w.msg.Nak()
			w.release()
		}
	}
	in.nakAll()
}

// read moves messages from the iterator into the intake until the
// iterator is closed or the consumer is gone.
func (r *Runner) read(ctx context.Context, it jetstream.MessagesContext, in *intake) error {
	defer in.finish()
	for {
		// Full: the messages stay with JetStream (and at most one pull
		// batch in the client) until workers start what is queued. When
		// ctx ends the iterator is drained below instead.
		in.budget.wait(ctx)
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
				errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("connector %q: %w", r.cfg.Name, err)
			}
			r.log.Warn("consume", "err", err)
			continue
		}
		if ctx.Err() != nil {
			_ = msg.Nak() // shutting down: hand buffered messages to other instances now
			continue
		}
		j, err := r.newJob(msg)
		if err != nil {
			r.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		in.budget.take(j, int64(len(msg.Data())))
		in.put(j)
	}
}

// feed hands queued jobs to the workers in order; the unbuffered jobs
// channel is the backpressure that keeps at most `concurrency`
// deliveries in flight. It returns when ctx ends or the reader has
// stopped, handing back what is left.
func (r *Runner) feed(ctx context.Context, in *intake, jobs chan<- *job) {
	defer r.handBack(in)
	keep := r.ackWait / 3
	tick := time.NewTicker(max(keep/2, 100*time.Millisecond))
	defer tick.Stop()
	for {
		j, done := in.head()
		if j == nil && done {
			return
		}
		if j != nil && !r.admit(j) {
			in.pop() // it runs after the job ahead of it for its entity
			continue
		}
		var out chan<- *job
		var ready <-chan struct{}
		if j != nil {
			out = jobs
		} else {
			// Only an empty feeder listens for new jobs: one waiting for a
			// worker would be woken by every message the reader queues.
			ready = in.ready
		}
		select {
		case out <- j:
			in.pop()
		case <-ready:
		case now := <-tick.C:
			in.refresh(now, keep)
			if r.keys != nil {
				r.keys.refresh(now, keep)
			}
		case <-ctx.Done():
			return
		}
	}
}
