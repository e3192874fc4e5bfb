package pipeline

import (
	"sync"
	"time"
)

// intake holds the messages a consumer delivered until a worker takes
// them, and keeps each one alive meanwhile.
//
// The client's iterator buffers up to a pull batch of messages that no
// one can reach: while every worker waits (an open breaker, a slow
// system) those would sit past the ack wait and JetStream would send
// them again. The reader empties the iterator into this queue at once,
// so nothing is unreachable: the queue is bounded by the consumer's
// MaxAckPending and the budget, and the feeder tells JetStream "in
// progress" for any message that has waited a third of the ack wait.
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
