// Package telemetry sets up OpenTelemetry for extsync once, from the
// standard OTEL_* variables: traces and metrics exported over OTLP (or
// console, or none) through the contrib autoexport module, a Prometheus
// view of the metrics for /metrics, W3C trace-context propagation through
// NATS headers, and a slog handler that stamps trace and span ids.
package telemetry
