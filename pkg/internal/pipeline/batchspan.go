package pipeline

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/telemetry"
)

// maxBatchLinks bounds the links of a batch span: enough to find the
// traces of a batch's events, not a thousand-link span.
const maxBatchLinks = 128

// startBatchSpan starts the CONSUMER span of one batch attempt, linked to
// the producer spans of its events (a batch has no single parent).
func (o *observer) startBatchSpan(jobs []*job, attempt int) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, min(len(jobs), maxBatchLinks))
	for _, j := range jobs[:min(len(jobs), maxBatchLinks)] {
		if sc := trace.SpanContextFromContext(producerContext(j.msg)); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return tracer.Start(context.Background(), "process batch "+o.connector,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(
			append(slices.Clip(o.spanAttrs), telemetry.Attempt.Int(attempt),
				attribute.Int("messaging.batch.message_count", len(jobs)))...,
		))
}

// endBatchSpan records the batch's outcome on its span.
func endBatchSpan(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(telemetry.ErrorType.String(connectors.Classify(err).String()))
		span.SetStatus(codes.Error, connectors.AsDeliveryError(err).Error())
	}
	span.End()
}
