package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/telemetry"
)

const scope = "github.com/hms/extsync/pkg/pipeline"

var tracer = otel.Tracer(scope)

// instruments are the pipeline's metrics, shared by every runner.
type instruments struct {
	outcomes metric.Int64Counter
	duration metric.Float64Histogram
	e2e      metric.Float64Histogram
}

// Bucket bounds, in seconds. The SDK's defaults (0, 5, 10, 25, ...
// 10000) are meant for milliseconds: in seconds they put every attempt
// of a healthy system in one bucket, and no quantile could be read. An
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

// startSpan starts the CONSUMER span of one attempt, as a child of the
// producer's context carried in the message headers (a plain `nats pub`
// without headers starts a new trace), which newJob extracted.
func (r *Runner) startSpan(j *job) (context.Context, trace.Span) {
	ctx, span := tracer.Start(j.parent, r.spanNames.name(j.subject), consumerKind)
	// Set after the start, and only on a span that keeps them: without a
	// trace exporter spans carry ids only, and building the attributes
	// was most of what a span cost. (The sampler, ParentBased, does not
	// look at attributes.)
	if span.IsRecording() {
		span.SetAttributes(r.spanAttrs...)
		span.SetAttributes(telemetry.MessagingDestination.String(j.subject), telemetry.Attempt.Int(j.attempt))
		if j.ev != nil {
			span.SetAttributes(telemetry.MessagingMessageID.String(j.ev.ID))
		}
	}
	return ctx, span
}

var consumerKind = trace.WithSpanKind(trace.SpanKindConsumer)

// producerContext is the trace context in a message's headers. The reader
// extracts it, off the single worker's path between two requests.
func producerContext(msg jetstream.Msg) context.Context {
	return telemetry.Propagator.Extract(context.Background(), telemetry.HeaderCarrier(msg.Headers()))
}

// spanAttrs are the attributes every attempt span of a connector shares,
// built once with the runner: the durable name and these were built per
// attempt, a few allocations each on the hot path.
func spanAttrs(cfg *config.Connector) []attribute.KeyValue {
	return []attribute.KeyValue{
		telemetry.SystemNATS,
		telemetry.MessagingOperationName.String("process"),
		telemetry.MessagingOperationType.String("process"),
		telemetry.MessagingConsumerGroup.String(cfg.Durable()),
		telemetry.Connector.String(cfg.Name),
	}
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

// endSpan records the outcome on the span and in the metrics; at is when
// the attempt was settled (the acker ends the span a moment later).
func (r *Runner) endSpan(ctx context.Context, span trace.Span, j *job, err error, d policy.Decision, took time.Duration, at time.Time) {
	if !span.IsRecording() { // an id-only span keeps nothing: skip building it
		span.End()
	} else {
		span.SetAttributes(telemetry.Outcome.String(d.Outcome))
		if err != nil {
			class := connectors.Classify(err).String()
			span.SetAttributes(telemetry.ErrorType.String(class))
			span.SetStatus(codes.Error, connectors.AsDeliveryError(err).Error())
		}
		span.End(trace.WithTimestamp(at))
	}
	o := r.outcomeAttrs(d.Outcome)
	r.metrics.outcomes.Add(ctx, 1, o.add...)
	r.metrics.duration.Record(ctx, took.Seconds(), o.record...)
	if d.Action == policy.Ack && j.ev != nil && !j.ev.Time.IsZero() {
		r.metrics.e2e.Record(ctx, at.Sub(j.ev.Time).Seconds(), r.outcomeAttrs("").record...)
	}
}

// outcomeOptions carry one outcome's metric attributes, as the option
// slices the instruments take: passing the set alone built a one-element
// slice per call, three allocations per delivery.
type outcomeOptions struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// outcomeAttrs returns the metric options for one outcome ("" for the
// connector alone), built once: building an attribute set per delivery
// was a handful of allocations on the hot path.
func (r *Runner) outcomeAttrs(outcome string) *outcomeOptions {
	if v, ok := r.attrSets.Load(outcome); ok {
		return v.(*outcomeOptions)
	}
	kv := []attribute.KeyValue{telemetry.Connector.String(r.cfg.Name)}
	if outcome != "" {
		kv = append(kv, telemetry.Outcome.String(outcome))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	v, _ := r.attrSets.LoadOrStore(outcome, &outcomeOptions{
		add: []metric.AddOption{set}, record: []metric.RecordOption{set}})
	return v.(*outcomeOptions)
}
