package pipeline

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/telemetry"
)

// breakerStates maps the guard's state to the gauge value.
var breakerStates = map[string]int64{"closed": 0, "half-open": 1, "open": 2}

// registerGauges reports, at each collection, every connector's consumer
// lag, breaker state and dead-letter depth. They are read from JetStream
// when asked for, so they cost nothing between scrapes.
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
		}
		return nil
	}, lag, breaker, dlq, degraded, rate)
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
