// Package admin serves extsync's operator endpoints on EXTSYNC_HTTP_ADDR:
// /healthz (the process is alive), /readyz (connected to NATS, pipeline
// running) and /metrics (Prometheus text format), open to all; and the
// /api/v1 endpoints (connector status, dead-letter listing, replay and
// purge, the sync log, connector store changes), which need the admin
// token or, without one, a loopback caller (api.go).
package admin
