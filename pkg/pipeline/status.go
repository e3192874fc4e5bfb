package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hms/extsync/pkg/deadletter"
)

// ConnectorStatus is what an operator sees of one connector.
type ConnectorStatus struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Subjects []string `json:"subjects"`
	Running  bool     `json:"running"`
	// Lag is pending (not yet delivered to any worker) plus ack pending
	// (in flight or waiting on a retry), across every instance.
	Lag        uint64 `json:"lag"`
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ack_pending"`
	// InFlight counts this instance's deliveries running now.
	InFlight int64 `json:"in_flight"`
	// Waiting counts the events this instance holds that no worker has
	// started, WaitingBytes their size: bounded per consumer by the queue
	// budget (see "Durability" in README.md).
	Waiting      int64     `json:"waiting"`
	WaitingBytes int64     `json:"waiting_bytes"`
	Breaker      string    `json:"breaker,omitempty"`
	DeadLetters  uint64    `json:"dead_letters"`
	Delivered    int64     `json:"delivered"`
	Failed       int64     `json:"failed"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	// Degraded: every attempt has failed for degraded_after (a long
	// outage); events wait and resume by themselves. FailingSince is set
	// from the first failure of the current run of failures.
	Degraded     bool      `json:"degraded"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Throttle is set when the connector has a throttle block.
	Throttle *ThrottleStatus `json:"throttle,omitempty"`
	// Batch is set for mode: batch.
	Batch *BatchStatus `json:"batch,omitempty"`
	// Revision is the connector store's revision of the connector that
	// runs here; RegistryError says why this instance did not take a
	// later one (a variable it lacks, say) and keeps running this one.
	Revision      uint64 `json:"revision,omitempty"`
	RegistryError string `json:"registry_error,omitempty"`
}

// ThrottleStatus is the adaptive rate a connector's replicas share.
type ThrottleStatus struct {
	// Rate is what all replicas together may send now (events/s); Share
	// is this instance's part of it, among Replicas counted live.
	Rate     float64 `json:"rate"`
	Share    float64 `json:"share"`
	Replicas int     `json:"replicas"`
}

// runnerStats are the live counters behind ConnectorStatus.
type runnerStats struct {
	running   atomic.Bool
	inFlight  atomic.Int64
	delivered atomic.Int64
	failed    atomic.Int64

	mu          sync.Mutex
	lastError   string
	lastErrorAt time.Time
}

func (s *runnerStats) failure(msg string) {
	s.failed.Add(1)
	s.mu.Lock()
	s.lastError, s.lastErrorAt = msg, time.Now().UTC()
	s.mu.Unlock()
}

// Status reports every connector of this instance, with the consumer
// figures JetStream holds for all instances.
func (p *Pipeline) Status(ctx context.Context) []ConnectorStatus {
	depth := dlqDepth(ctx, p.js)
	out := []ConnectorStatus{}
	for _, r := range p.snapshot() {
		st := ConnectorStatus{
			Name: r.cfg.Name, Kind: r.cfg.Kind, Subjects: r.cfg.Subjects,
			Running: r.settler.obs.stats.running.Load(), InFlight: r.settler.obs.stats.inFlight.Load(),
			Breaker: r.guard.BreakerState(), DeadLetters: depth[deadletter.SubjectPrefix+r.cfg.Name],
			Delivered: r.settler.obs.stats.delivered.Load(), Failed: r.settler.obs.stats.failed.Load(),
		}
		for _, b := range r.budgets {
			st.Waiting += b.jobs.Load()
			st.WaitingBytes += b.bytes.Load()
		}
		if info, err := r.consumers.events.Info(ctx); err == nil {
			st.Pending, st.AckPending = info.NumPending, info.NumAckPending
			st.Lag = info.NumPending + uint64(info.NumAckPending) // #nosec G115 -- the server never reports a negative ack-pending count
		}
		st.Degraded, st.FailingSince = r.guard.Degraded(time.Now())
		if rate, share, n, ok := r.guard.Throttle(); ok {
			st.Throttle = &ThrottleStatus{Rate: rate, Share: share, Replicas: n}
		}
		if r.batcher != nil {
			bs := r.batcher.Status()
			st.Batch = &bs
		}
		r.settler.obs.stats.mu.Lock()
		st.LastError, st.LastErrorAt = r.settler.obs.stats.lastError, r.settler.obs.stats.lastErrorAt
		r.settler.obs.stats.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Running reports whether every connector's runner is consuming. A
// runner waiting for the one it replaces to drain counts as running: the
// connector is (the old runner is still settling), and readiness should
// not flap on every update.
func (p *Pipeline) Running() bool {
	p.mu.Lock()
	waiting := p.waiting
	p.mu.Unlock()
	for _, r := range p.snapshot() {
		if r != waiting && !r.settler.obs.stats.running.Load() {
			return false
		}
	}
	return true
}
