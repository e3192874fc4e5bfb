package pipeline

import (
	"sync"
	"time"
)

// keyQueue lets one job per entity key run at a time; later jobs for a busy
// key wait in arrival order behind it, while other keys keep flowing. This
// is what keeps one instance from sending two versions of an entity out of
// stream order.
type keyQueue struct {
	mu      sync.Mutex
	waiting map[string][]*job // present (maybe empty) while the key runs
}

func newKeyQueue() *keyQueue {
	return &keyQueue{waiting: map[string][]*job{}}
}

// admit reports whether j may run now; if not, j is queued for its key.
func (q *keyQueue) admit(j *job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if list, busy := q.waiting[j.entity.key]; busy {
		q.waiting[j.entity.key] = append(list, j)
		return false
	}
	q.waiting[j.entity.key] = nil
	return true
}

// next returns the job queued behind key, or nil and frees the key.
func (q *keyQueue) next(key string) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.waiting[key]
	if len(list) == 0 {
		delete(q.waiting, key)
		return nil
	}
	q.waiting[key] = list[1:]
	return list[0]
}

// queued says whether a job waits behind key.
func (q *keyQueue) queued(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting[key]) > 0
}

// drop frees key and returns the jobs that waited behind it.
func (q *keyQueue) drop(key string) []*job {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.waiting[key]
	delete(q.waiting, key)
	return list
}

// refresh keeps alive the jobs that have waited behind their key longer
// than after: an entity's later versions can wait as long as an outage
// holds the one ahead of them.
func (q *keyQueue) refresh(now time.Time, after time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, list := range q.waiting {
		for _, j := range list {
			j.keepAliveAfter(now, after)
		}
	}
}
