// Package policy is the one place that decides what a delivery's outcome
// leads to: ack, retry after a backoff delay, or dead-letter. It also holds
// the per-connector guard (circuit breaker and rate limit, from failsafe-go)
// that protects an external system from being hammered.
//
// Retries are not run in-process: the decision's delay becomes a JetStream
// NakWithDelay, so a waiting retry holds no worker and survives a crash.
package policy
