package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// idOnlyProvider makes spans that carry ids and nothing else: used when no
// trace exporter is configured. A span still gets its own span id (and a
// root its trace id), so logs, sync log records and the traceparent sent
// to external systems identify the attempt, and the sampled flag follows
// the parent as the SDK's default sampler would set it. What the SDK also
// does per span (timestamps, attribute copies, status, a span processor
// pass) is work nobody reads without an exporter, paid on every delivery.
type idOnlyProvider struct{ embedded.TracerProvider }

func (idOnlyProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return idOnlyTracer{} }

type idOnlyTracer struct{ embedded.Tracer }

func (idOnlyTracer) Start(ctx context.Context, _ string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanContextFromContext(ctx)
	if parent.IsValid() { // the options matter only to say "new root"
		if cfg := trace.NewSpanStartConfig(opts...); cfg.NewRoot() {
			parent = trace.SpanContext{}
		}
	}
	cfg := trace.SpanContextConfig{SpanID: newSpanID(), TraceFlags: trace.FlagsSampled}
	if parent.IsValid() {
		cfg.TraceID, cfg.TraceFlags, cfg.TraceState = parent.TraceID(), parent.TraceFlags(), parent.TraceState()
	} else {
		cfg.TraceID = newTraceID()
	}
	// A context holding only a span context yields a non-recording span
	// that reports it: the span the caller gets back.
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
	return ctx, trace.SpanFromContext(ctx)
}

// Ids come from math/rand/v2's per-thread ChaCha8 generator, as random as
// the SDK's and without its lock.
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64()) // #nosec G404 -- trace ids need uniqueness, not secrecy
		binary.BigEndian.PutUint64(id[8:], rand.Uint64()) // #nosec G404 -- as above
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64()) // #nosec G404 -- as above
	}
	return id
}
