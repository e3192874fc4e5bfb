package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/synclog"
)

// DefaultSummaryEvery is how often serve logs each connector's summary.
const DefaultSummaryEvery = time.Minute

// tally counts one connector's outcomes since the last summary.
type tally struct {
	delivered, retried, deadLettered atomic.Int64
}

// tallies counts outcomes per connector from the records the pipeline
// writes; the summary reads and resets them.
type tallies struct {
	m sync.Map // connector -> *tally
}

func (t *tallies) record(r synclog.Record) {
	v, ok := t.m.Load(r.Connector)
	if !ok {
		v, _ = t.m.LoadOrStore(r.Connector, &tally{})
	}
	c := v.(*tally)
	switch r.Outcome {
	case policy.OutcomeDelivered:
		c.delivered.Add(1)
	case policy.OutcomeRetry:
		c.retried.Add(1)
	case policy.OutcomeDeadLettered:
		c.deadLettered.Add(1)
	}
}

// take returns connector's counts since the last take and resets them.
func (t *tallies) take(connector string) (delivered, retried, deadLettered int64) {
	v, ok := t.m.Load(connector)
	if !ok {
		return 0, 0, 0
	}
	c := v.(*tally)
	return c.delivered.Swap(0), c.retried.Swap(0), c.deadLettered.Swap(0)
}

// summarize logs, every interval until ctx ends, one line per connector:
// delivered, retried and dead-lettered in the interval, and its lag now
// (pending plus ack pending, all instances).
func (svc *Service) summarize(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, st := range svc.pipeline.Status(ctx) {
			delivered, retried, dead := svc.tallies.take(st.Name)
			svc.log.Info("connector summary", "connector", st.Name, "every", every,
				"delivered", delivered, "retried", retried, "dead_lettered", dead, "lag", st.Lag)
		}
	}
}
