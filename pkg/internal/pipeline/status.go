package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/telemetry"
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
	// Ordering, under ordering entity, says how this instance keeps
	// versioned events in order: "alone" (no other instance runs the
	// connector: no claims), "claims", or "waiting" (for another instance
	// to stop sending alone, or for this one's membership to be renewed).
	Ordering string `json:"ordering,omitempty"`
	// Throttle is set when the connector has a throttle block.
	Throttle *ThrottleStatus `json:"throttle,omitempty"`
	// Batch is set for mode: batch.
	Batch *BatchStatus `json:"batch,omitempty"`
	// Revision is the connector store's revision of the connector that
	// runs here; RegistryError says why this instance did not take a
	// later one (a variable it lacks, say) and keeps running this one.
	Revision      uint64 `json:"revision,omitempty"`
	RegistryError string `json:"registry_error,omitempty"`
	// Verify is the connector's last verification round (extsync
	// verify, or a verify: block), across instances; nil before any.
	Verify *VerifyResult `json:"verify,omitempty"`
}

// VerifyResult is what a verification round found.
type VerifyResult struct {
	Trigger  string    `json:"trigger"` // "schedule" or "cli"
	Finished time.Time `json:"finished"`
	Checked  int       `json:"checked"`
	InStep   int       `json:"in_step"`
	Drifted  int       `json:"drifted"`
	Missing  int       `json:"missing"`
	Repaired int       `json:"repaired"`
	Error    string    `json:"error,omitempty"`
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
	depth := dlqDepth(ctx, p.o.JS)
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
		if r.lease != nil {
			st.Ordering = r.lease.State()
		}
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

// breakerStates maps the guard's state to the gauge value.
var breakerStates = map[string]int64{"closed": 0, "half-open": 1, "open": 2}

// orderingStates maps the lease's state to the gauge value.
var orderingStates = map[string]int64{"claims": 0, "alone": 1, "waiting": 2}

// registerGauges reports, at each collection, every connector's consumer
// lag, breaker state, dead-letter depth and how it keeps entity order.
// They are read when asked for, so they cost nothing between scrapes.
func (p *Pipeline) registerGauges(js jetstream.JetStream) error {
	m := otel.Meter(scope)
	lag, _ := m.Int64ObservableGauge("extsync.consumer.lag",
		metric.WithDescription("events not yet settled by the connector: waiting (pending) plus in flight (ack pending)"))
	breaker, _ := m.Int64ObservableGauge("extsync.circuit_breaker.state",
		metric.WithDescription("0 closed, 1 half-open, 2 open"))
	dlq, _ := m.Int64ObservableGauge("extsync.dlq.depth", metric.WithDescription("dead letters waiting per connector"))
	degraded, _ := m.Int64ObservableGauge("extsync.connector.degraded",
		metric.WithDescription("1 while every attempt has failed for the connector's degraded_after: alert on it"))
	rate, _ := m.Float64ObservableGauge("extsync.throttle.rate",
		metric.WithDescription("events/s all replicas together may send to the system now (adaptive throttle)"))
	ordering, _ := m.Int64ObservableGauge("extsync.ordering.state",
		metric.WithDescription("ordering entity: 0 claims (other instances run the connector), 1 alone (no claims), 2 waiting (versioned events wait for the lease)"))
	var err error
	p.gauges, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		depth := dlqDepth(ctx, js)
		for _, r := range p.snapshot() {
			set := metric.WithAttributes(telemetry.Connector.String(r.cfg.Name))
			if info, err := r.consumers.events.Info(ctx); err == nil {
				o.ObserveInt64(lag, int64(info.NumPending)+int64(info.NumAckPending), set) // #nosec G115 -- a stream's message count stays far below 2^63
			}
			if s := r.guard.BreakerState(); s != "" {
				o.ObserveInt64(breaker, breakerStates[s], set)
			}
			o.ObserveInt64(dlq, int64(depth[deadletter.SubjectPrefix+r.cfg.Name]), set) // #nosec G115 -- a stream's message count stays far below 2^63
			var d int64
			if bad, _ := r.guard.Degraded(time.Now()); bad {
				d = 1
			}
			o.ObserveInt64(degraded, d, set)
			if shared, _, _, ok := r.guard.Throttle(); ok {
				o.ObserveFloat64(rate, shared, set)
			}
			if r.lease != nil {
				o.ObserveInt64(ordering, orderingStates[r.lease.State()], set)
			}
		}
		return nil
	}, lag, breaker, dlq, degraded, rate, ordering)
	return err
}

func dlqDepth(ctx context.Context, js jetstream.JetStream) map[string]uint64 {
	st, err := js.Stream(ctx, deadletter.Stream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(deadletter.SubjectPrefix+">"))
	if err != nil {
		return nil
	}
	return info.State.Subjects
}
