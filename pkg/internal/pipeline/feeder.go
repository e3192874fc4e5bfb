package pipeline

import (
	"context"
	"time"
)

// feeder hands one intake's jobs to the workers in stream order. It is
// the one goroutine that sees that order, so it admits each job to its
// entity (admitting in the workers would let two of them, handed an
// entity's jobs a moment apart, admit the later first).
type feeder struct {
	in   *intake
	keys *keyQueue // nil: ordering none
	// keep is how long a job may wait before JetStream is told it is
	// still being worked on: a third of the ack wait.
	keep time.Duration
	// preclaim starts the claim of a job waiting for a worker (nil: no
	// claims, or not taken ahead).
	preclaim func(*job)
}

// admit takes j's entity for j. False means j now waits behind the job
// holding its entity, and that job's worker will run it.
func (f *feeder) admit(j *job) bool {
	if f.keys == nil || j.entity.key == "" || j.entity.admitted {
		return true
	}
	if !f.keys.admit(j) {
		return false
	}
	j.entity.admitted = true
	return true
}

// run feeds until ctx ends or the reader has stopped, then hands back
// what is left; the unbuffered jobs channel is the backpressure that
// keeps at most `concurrency` deliveries in flight.
func (f *feeder) run(ctx context.Context, jobs chan<- *job) {
	defer f.handBack()
	tick := time.NewTicker(max(f.keep/2, 100*time.Millisecond))
	defer tick.Stop()
	for {
		j, done := f.in.head()
		if j == nil && done {
			return
		}
		if j != nil && !f.admit(j) {
			f.in.pop() // it runs after the job ahead of it for its entity
			continue
		}
		var out chan<- *job
		var ready <-chan struct{}
		if j != nil {
			out = jobs
			if f.preclaim != nil {
				f.preclaim(j)
			}
		} else {
			// Only an empty feeder listens for new jobs: one waiting for a
			// worker would be woken by every message the reader queues.
			ready = f.in.ready
		}
		select {
		case out <- j:
			f.in.pop()
		case <-ready:
		case now := <-tick.C:
			f.in.refresh(now, f.keep)
			if f.keys != nil {
				f.keys.refresh(now, f.keep)
			}
		case <-ctx.Done():
			return
		}
	}
}

// handBack returns the intake's jobs to JetStream as the feeder stops. A
// head job already admitted holds its entity with no worker to run it,
// so the jobs queued behind it go back too.
func (f *feeder) handBack() {
	j, _ := f.in.head()
	if j != nil {
		j.abandonClaim()
	}
	if j != nil && j.entity.admitted && f.keys != nil {
		for _, w := range f.keys.drop(j.entity.key) {
			_ = w.msg.Nak()
			w.release()
		}
	}
	f.in.nakAll()
}
