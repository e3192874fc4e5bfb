// Package admin serves extsync's operator endpoints on EXTSYNC_HTTP_ADDR:
// /healthz (the process is alive), /readyz (connected to NATS, pipeline
// running) and /metrics (Prometheus text format).
package admin
