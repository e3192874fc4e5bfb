package pipeline

import (
	"context"
	"sync/atomic"
)

// DefaultQueueBytes bounds the bytes of the messages one connector holds
// for each of its two consumers (events and replays) before a worker
// starts them. Small events never reach it: 512-byte events fill it only
// at 65,000 waiting, more than any consumer's ack-pending limit.
const DefaultQueueBytes = 32 << 20

// budget bounds the bytes of the messages a reader has queued that no
// worker has started yet: the intake's queue and the jobs waiting behind
// their entity. Ack-pending bounds them in number only; with events near
// the server's maximum payload that was hundreds of megabytes.
//
// The reader takes before it queues and waits for room before it reads
// on, so the budget can be passed by one message; a worker starting the
// job, or the job handed back, gives it back. Each budget has one reader:
// a give wakes that reader and no other.
type budget struct {
	limit int64
	bytes atomic.Int64
	jobs  atomic.Int64
	room  chan struct{}
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, room: make(chan struct{}, 1)}
}

// take counts j as held by the budget b.
func (b *budget) take(j *job, size int64) {
	j.life.held, j.life.size = b, size
	b.bytes.Add(size)
	b.jobs.Add(1)
}

// wait returns when the budget has room, or when ctx ends.
func (b *budget) wait(ctx context.Context) {
	for b.bytes.Load() >= b.limit {
		select {
		case <-b.room:
		case <-ctx.Done():
			return
		}
	}
}

// release gives back what j holds; a job holds its budget once.
func (j *job) release() {
	b := j.life.held
	if b == nil {
		return
	}
	j.life.held = nil
	b.jobs.Add(-1)
	if b.bytes.Add(-j.life.size) < b.limit {
		select {
		case b.room <- struct{}{}:
		default: // the reader is not waiting, or a wake-up is on its way
		}
	}
}
