package bench

import (
	"sync/atomic"
	"time"

	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/synclog"
)

// observer sees every sync-log record of the benchmark's connector: it
// counts the events delivered (and acked: the record follows the ack) and
// the attempts that failed.
type observer struct {
	tally                   atomic.Pointer[tally]
	sent                    atomic.Pointer[[]atomic.Int64] // publish times of the latency phase
	retries, superseded     atomic.Int64
	deadLettered            atomic.Int64
	attemptMicros, attempts atomic.Int64
}

func (ob *observer) meanAttemptMS() float64 {
	n := ob.attempts.Load()
	if n == 0 {
		return 0
	}
	return float64(ob.attemptMicros.Load()) / 1000 / float64(n)
}

func (ob *observer) record(r synclog.Record) {
	switch r.Outcome {
	case policy.OutcomeDelivered:
	case policy.OutcomeSuperseded: // settled: acked, a newer version sent
		ob.superseded.Add(1)
	case policy.OutcomeDeadLettered:
		ob.deadLettered.Add(1)
		return
	default:
		ob.retries.Add(1)
		return
	}
	t := ob.tally.Load()
	if t == nil {
		return
	}
	phase, n, ok := parseID(r.EventID)
	if ok && phase == phaseThroughput && r.Outcome == policy.OutcomeDelivered {
		ob.attemptMicros.Add(int64(r.DurationMS * 1000))
		ob.attempts.Add(1)
	}
	if !ok {
		return
	}
	now := time.Now()
	var lat time.Duration
	if sent := ob.sent.Load(); t.latencies && sent != nil && n < len(*sent) {
		lat = now.Sub(time.Unix(0, (*sent)[n].Load()))
	}
	t.see(phase, n, now, lat)
}
