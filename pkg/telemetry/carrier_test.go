package telemetry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/telemetry"
)

func TestHeaderCarrierFindsTraceparentInAnyCase(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, name := range []string{"traceparent", "Traceparent", "TRACEPARENT"} {
		ctx := telemetry.Propagator.Extract(context.Background(), telemetry.HeaderCarrier{name: {tp}})
		sc := trace.SpanContextFromContext(ctx)
		require.True(t, sc.IsRemote(), name)
		require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", sc.TraceID().String(), name)
	}
}

func TestHeaderCarrierSetReplacesAnyCase(t *testing.T) {
	c := telemetry.HeaderCarrier{"Traceparent": {"old"}, "X-Other": {"keep"}}
	c.Set("traceparent", "new")
	require.Equal(t, telemetry.HeaderCarrier{"traceparent": {"new"}, "X-Other": {"keep"}}, c)
	require.ElementsMatch(t, []string{"traceparent", "X-Other"}, c.Keys())
}
