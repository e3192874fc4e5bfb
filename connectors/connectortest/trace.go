package connectortest

import (
	"context"

	"github.com/hms/extsync/pkg/telemetry"
)

// Traced is a context under the span traceparent names, as the pipeline
// calls Deliver under an attempt's span: an HTTP kind's transport must
// send that trace context (or a child of it) to the system.
func Traced(traceparent string) context.Context {
	return telemetry.Propagator.Extract(context.Background(), telemetry.HeaderCarrier{"traceparent": {traceparent}})
}
