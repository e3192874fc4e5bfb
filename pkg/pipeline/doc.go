// Package pipeline moves events from JetStream to external systems. Each
// connector gets a Runner: a durable pull consumer read in batches, a pool
// of `concurrency` workers, and for every message the stages
//
//	decode → map → order → guard (throttle, rate limit, breaker) → conflict → deliver → settle
//
// Stages before settle only return a classified error; settle alone asks
// the policy what that error means and makes the outcome durable (sync log,
// dead letter) before acking. The pipeline knows connectors only through
// the connectors.Connector interface.
package pipeline
