// Package bench measures what one http connector costs on top of plain
// HTTP: it starts extsync as `serve` would (embedded JetStream server, the
// streams, one connector), preloads a backlog of events, and reports in one
// run the raw HTTP ceiling (the same sink and concurrency, no NATS), the
// pipeline's throughput and its ratio to the ceiling, end-to-end latency
// at a fixed publish rate, peak RSS and allocations per event.
//
// Every concurrency value gets its own server, store and stream, so the
// runs do not interfere. Absolute numbers depend on the machine and what
// else runs on it; the ratio, measured within one run, is the number to
// compare.
package bench
