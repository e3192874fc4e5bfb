// Package pipeline moves events from JetStream to external systems. Each
// connector gets a Runner that assembles small pieces, each with one job:
//
//	reader   pulls the consumer's messages and decodes each into a job
//	intake   holds them, bounded in bytes, keeping each alive
//	feeder   hands them to workers in stream order, one per entity at a time
//	worker   runs a job through the chain of stages
//	settler  decide (policy) → settle (dead letter) → acker: record, ack
//
// The stages, each built from exactly what it needs:
//
//	failed → map → order (extsync_state claim) → guard (throttle, rate
//	limit, breaker) → renew (a claim the guard held back) → conflict
//	(rule, remote, parker) → deliver (connector)
//
// A batch connector runs the same reader and the chain up to a stale-
// version check, coalesces, then a batch sender claims the entities,
// sends, and settles each event through the same settler. Stages only
// return classified errors; the policy alone says what an outcome leads
// to. The pipeline knows connectors only through the connectors
// interfaces. docs/architecture.md draws the whole path.
package pipeline
