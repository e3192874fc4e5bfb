package bench

import (
	"errors"
	"fmt"
	"sync"
)

// orderCheck counts, for versioned events, the deliveries the sink
// received after a newer version of the same entity: what ordering
// entity promises never happens. A figure bought by sending versions out
// of order would be no figure.
type orderCheck struct {
	entities   int
	mu         sync.Mutex
	last       []int // per entity, the newest version received
	outOfOrder int64
}

func newOrderCheck(entities int) *orderCheck {
	return &orderCheck{entities: entities, last: make([]int, entities)}
}

// see notes event n of the throughput phase (repeats included: a
// redelivered old version is out of order too).
func (o *orderCheck) see(n int) {
	e, v := n%o.entities, n/o.entities+1
	o.mu.Lock()
	defer o.mu.Unlock()
	if v < o.last[e] {
		o.outOfOrder++
		return
	}
	o.last[e] = v
}

func (o *orderCheck) count() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.outOfOrder
}

// ErrOutOfOrder marks a run with ordering entity in which the sink
// received an older version of an entity after a newer one.
var ErrOutOfOrder = errors.New("an older version was sent after a newer one")

// CheckOrder fails when, with ordering entity, any concurrency's sink
// received a version out of order.
func (r Report) CheckOrder() error {
	if r.Ordering != "entity" {
		return nil
	}
	for _, res := range r.Results {
		if res.OutOfOrder > 0 {
			return fmt.Errorf("%w: c=%d: %d deliveries", ErrOutOfOrder, res.Concurrency, res.OutOfOrder)
		}
	}
	return nil
}
