// Package bench measures what one http connector costs on top of plain
// HTTP: it starts a nats-server in its own process (or an embedded one)
// and extsync as `serve` would (the streams, one connector), preloads a
// backlog of events, and reports in one run the raw HTTP ceiling (the same
// sink and concurrency, no NATS), a bare NATS-to-HTTP bridge draining the
// same backlog, the pipeline's throughput and its ratios to both,
// end-to-end latency at a fixed publish rate, CPU per event (extsync's and
// the server's apart), peak RSS and allocations per event.
//
// Every concurrency value gets its own server, store and stream, so the
// runs do not interfere. Absolute numbers depend on the machine and what
// else runs on it; the ratio, measured within one run, is the number to
// compare.
package bench
