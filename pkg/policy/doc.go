// Package policy is the one place that decides what a delivery's outcome
// leads to: ack, retry after a backoff delay, or dead-letter. It also holds
// the per-connector guard that protects an external system from being
// hammered (the shared adaptive throttle of package throttle; circuit
// breaker and rate limit from failsafe-go) and the connector's health,
// which says when a long outage has made it degraded.
//
// Retries are not run in-process: the decision's delay becomes a JetStream
// NakWithDelay, so a waiting retry holds no worker and survives a crash.
package policy
