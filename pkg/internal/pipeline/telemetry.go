package pipeline

import (
	"context"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/synclog"
	"github.com/hms/extsync/pkg/telemetry"
)

const scope = "github.com/hms/extsync/pkg/internal/pipeline"

var tracer = otel.Tracer(scope)

// instruments are the pipeline's metrics, shared by every runner.
type instruments struct {
	outcomes metric.Int64Counter
	duration metric.Float64Histogram
	e2e      metric.Float64Histogram
}

// Bucket bounds, in seconds. The SDK's defaults (0, 5, 10, 25, ...
// 10000) are meant for milliseconds: in seconds they would put every
// attempt of a healthy system in one bucket. An
// attempt takes from a fraction of a millisecond to its timeout (10 s by
// default, at most minutes); an event's end-to-end latency stretches to
// the backoff of its last retry.
var (
	attemptBuckets  = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	endToEndBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
)

func newInstruments() *instruments {
	m := otel.Meter(scope)
	outcomes, _ := m.Int64Counter("extsync.deliveries",
		metric.WithDescription("delivery attempts by connector and outcome (delivered, retry, dead-lettered, conflict-skipped)"))
	duration, _ := m.Float64Histogram("extsync.delivery.duration", metric.WithUnit("s"),
		metric.WithDescription("time one delivery attempt took, external call included"),
		metric.WithExplicitBucketBoundaries(attemptBuckets...))
	e2e, _ := m.Float64Histogram("extsync.end_to_end.latency", metric.WithUnit("s"),
		metric.WithDescription("from the event's publish time to its confirmed delivery"),
		metric.WithExplicitBucketBoundaries(endToEndBuckets...))
	return &instruments{outcomes: outcomes, duration: duration, e2e: e2e}
}

// observer is what one connector tells the outside: spans, metrics,
// the live counters behind its status, and its log.
type observer struct {
	connector string
	metrics   *instruments
	attrSets  sync.Map // outcome → *outcomeOptions
	spanAttrs []attribute.KeyValue
	spanNames spanNames
	stats     runnerStats
	log       *slog.Logger
	onRecord  func(synclog.Record)
}

func newObserver(cfg *config.Connector, m *instruments, log *slog.Logger, onRecord func(synclog.Record)) *observer {
	return &observer{connector: cfg.Name, metrics: m, log: log, onRecord: onRecord,
		// Shared by every attempt's span: built once, not per attempt.
		spanAttrs: []attribute.KeyValue{
			telemetry.SystemNATS,
			telemetry.MessagingOperationName.String("process"),
			telemetry.MessagingOperationType.String("process"),
			telemetry.MessagingConsumerGroup.String(cfg.Durable()),
			telemetry.Connector.String(cfg.Name),
		}}
}

// startSpan starts the CONSUMER span of one attempt, as a child of the
// producer's context carried in the message headers (a plain `nats pub`
// without headers starts a new trace).
func (o *observer) startSpan(j *job) (context.Context, trace.Span) {
	ctx, span := tracer.Start(j.parent, o.spanNames.name(j.subject), consumerKind)
	// Attributes only on a span that keeps them: without a trace exporter
	// spans carry ids only. (The sampler, ParentBased, does not look at
	// attributes.)
	if span.IsRecording() {
		span.SetAttributes(o.spanAttrs...)
		span.SetAttributes(telemetry.MessagingDestination.String(j.subject), telemetry.Attempt.Int(j.attempt))
		if j.ev != nil {
			span.SetAttributes(telemetry.MessagingMessageID.String(j.ev.ID))
		}
	}
	return ctx, span
}

var consumerKind = trace.WithSpanKind(trace.SpanKindConsumer)

// producerContext is the trace context in a message's headers.
func producerContext(msg jetstream.Msg) context.Context {
	return telemetry.Propagator.Extract(context.Background(), telemetry.HeaderCarrier(msg.Headers()))
}

// outcome counts one recorded outcome, exactly once whatever the mode:
// the status counters, the metrics, and the attempt's span when it has
// one of its own.
func (o *observer) outcome(out *outcome) {
	rec := out.rec
	if out.err != nil && out.d.Action != policy.Ack {
		o.stats.failure(rec.Error)
	} else if out.d.Outcome == policy.OutcomeDelivered {
		o.stats.delivered.Add(1)
	}
	if out.span != nil {
		o.endSpan(out)
	}
	ctx, opts := out.spanCtx, o.outcomeAttrs(out.d.Outcome)
	o.metrics.outcomes.Add(ctx, 1, opts.add...)
	if out.took > 0 {
		o.metrics.duration.Record(ctx, out.took.Seconds(), opts.record...)
	}
	if out.d.Action == policy.Ack && out.j.ev != nil && !out.j.ev.Time.IsZero() {
		o.metrics.e2e.Record(ctx, out.at.Sub(out.j.ev.Time).Seconds(), o.outcomeAttrs("").record...)
	}
}

// endSpan records the outcome on the attempt's span.
func (o *observer) endSpan(out *outcome) {
	span := out.span
	if !span.IsRecording() { // an id-only span keeps nothing
		span.End()
		return
	}
	span.SetAttributes(telemetry.Outcome.String(out.d.Outcome))
	// A skipped event (superseded, parked) is not an error on the span.
	if out.err != nil && out.d.Action != policy.Ack {
		span.SetAttributes(telemetry.ErrorType.String(connectors.Classify(out.err).String()))
		span.SetStatus(codes.Error, connectors.AsDeliveryError(out.err).Error())
	}
	span.End(trace.WithTimestamp(out.at))
}

// acked logs what became of a message, with the attempt's trace id, and
// tells OnRecord; err is the ack's own failure, if any.
func (o *observer) acked(out outcome, err error) {
	ctx, rec, d := out.spanCtx, out.rec, out.d
	switch d.Action {
	case policy.Ack:
		if o.log.Enabled(ctx, slog.LevelDebug) {
			o.eventLog(rec).DebugContext(ctx, "delivered", "outcome", d.Outcome, "status", rec.Status, "ms", rec.DurationMS)
		}
	case policy.Retry:
		o.eventLog(rec).WarnContext(ctx, "delivery failed, will retry", "status", rec.Status, "err", rec.Error, "retry_in", d.Delay)
	case policy.DeadLetter:
		o.eventLog(rec).WarnContext(ctx, "dead-lettered", "status", d.Status, "err", rec.Error)
	}
	if err != nil {
		o.eventLog(rec).WarnContext(ctx, "ack not sent; the event will be redelivered and the repeat is harmless", "err", err)
	}
	if o.onRecord != nil {
		o.onRecord(*rec)
	}
}

// eventLog is the connector's logger with the event's identity, built
// only when something is logged: it costs allocations.
func (o *observer) eventLog(rec *synclog.Record) *slog.Logger {
	return o.log.With("event", rec.EventID, "seq", rec.StreamSeq, "attempt", rec.Attempt)
}

// spanNames caches "process <subject>" per subject.
type spanNames struct {
	mu    sync.Mutex
	names map[string]string
}

// maxSpanNames bounds the cache: a wildcard filter can match subjects
// without end, and those just build their name each time.
const maxSpanNames = 256

func (p *spanNames) name(subject string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.names[subject]; ok {
		return n
	}
	n := "process " + subject
	if p.names == nil {
		p.names = map[string]string{}
	}
	if len(p.names) < maxSpanNames {
		p.names[subject] = n
	}
	return n
}

// outcomeOptions carry one outcome's metric attributes as the option
// slices the instruments take, so a delivery allocates none.
type outcomeOptions struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// outcomeAttrs returns the metric options for one outcome ("" for the
// connector alone), built once per outcome.
func (o *observer) outcomeAttrs(outcome string) *outcomeOptions {
	if v, ok := o.attrSets.Load(outcome); ok {
		return v.(*outcomeOptions)
	}
	kv := []attribute.KeyValue{telemetry.Connector.String(o.connector)}
	if outcome != "" {
		kv = append(kv, telemetry.Outcome.String(outcome))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	v, _ := o.attrSets.LoadOrStore(outcome, &outcomeOptions{
		add: []metric.AddOption{set}, record: []metric.RecordOption{set}})
	return v.(*outcomeOptions)
}
