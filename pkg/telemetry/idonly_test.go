package telemetry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/telemetry"
)

// setupWithoutExporter runs Setup as serve does on a machine with no
// OTEL_* settings, restoring the global providers afterwards.
func setupWithoutExporter(t *testing.T) trace.Tracer {
	t.Helper()
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		t.Setenv(k, "")
	}
	prevT, prevM, prevP := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	tel, err := telemetry.Setup(context.Background(), "extsync-test", "test")
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, tel.Shutdown(context.Background()))
		otel.SetTracerProvider(prevT)
		otel.SetMeterProvider(prevM)
		otel.SetTextMapPropagator(prevP)
	})
	return otel.Tracer("test")
}

// traceparentOf is what an external system receives from a call made in ctx.
func traceparentOf(ctx context.Context) string {
	h := http.Header{}
	telemetry.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
	return h.Get("traceparent")
}

func parentCtx(traceparent string) context.Context {
	return telemetry.Propagator.Extract(context.Background(),
		telemetry.HeaderCarrier{"traceparent": {traceparent}, "tracestate": {"hms=7"}})
}

func TestWithoutExporterEachSpanHasItsOwnIDInTheProducersTrace(t *testing.T) {
	tracer := setupWithoutExporter(t)
	const producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx1, span1 := tracer.Start(parentCtx(producer), "process hms.workflow.updated")
	ctx2, _ := tracer.Start(parentCtx(producer), "process hms.workflow.updated")
	require.False(t, span1.IsRecording(), "nothing is recorded that nobody exports")

	sent1, sent2 := strings.Split(traceparentOf(ctx1), "-"), strings.Split(traceparentOf(ctx2), "-")
	require.Len(t, sent1, 4)
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", sent1[1], "the producer's trace")
	require.NotEqual(t, "00f067aa0ba902b7", sent1[2], "the attempt's own span, not the producer's")
	require.NotEqual(t, sent1[2], sent2[2], "each attempt its own span")
	require.Equal(t, "01", sent1[3])
	require.Equal(t, "hms=7", trace.SpanContextFromContext(ctx1).TraceState().String())

	// A child of the attempt (the HTTP call) is in the same trace again.
	ctx3, _ := tracer.Start(ctx1, "HTTP PUT", trace.WithSpanKind(trace.SpanKindClient))
	require.Equal(t, sent1[1], strings.Split(traceparentOf(ctx3), "-")[1])
}

func TestWithoutExporterSamplingFollowsTheParent(t *testing.T) {
	tracer := setupWithoutExporter(t)
	ctx, _ := tracer.Start(parentCtx("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), "unsampled")
	require.True(t, strings.HasSuffix(traceparentOf(ctx), "-00"), "an unsampled trace stays unsampled downstream")

	root, _ := tracer.Start(context.Background(), "no producer context")
	sc := trace.SpanContextFromContext(root)
	require.True(t, sc.IsValid())
	require.True(t, sc.IsSampled(), "a new trace is sampled, as the SDK's default sampler does")
	other, _ := tracer.Start(context.Background(), "another")
	require.NotEqual(t, sc.TraceID(), trace.SpanContextFromContext(other).TraceID())

	fresh, _ := tracer.Start(ctx, "new root", trace.WithNewRoot())
	require.NotEqual(t, trace.SpanContextFromContext(ctx).TraceID(), trace.SpanContextFromContext(fresh).TraceID())
}
