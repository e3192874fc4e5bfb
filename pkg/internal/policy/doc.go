// Package policy is the one place that decides what a delivery's outcome
// leads to: ack (delivered, or skipped on purpose: a superseded version, a
// conflict parked for a person, remote-wins), retry after a backoff
// delay, dead-letter; and for a batch sent as one unit, hold it for the
// next try or hand it back when the instance stops. Stages and
// connectors only classify errors; the pipeline's settler asks Decide.
//
// It also holds the per-connector guard that protects an external system
// from being hammered (the shared adaptive throttle of package throttle;
// circuit breaker and rate limit from failsafe-go) and the connector's
// health, which says when a long outage has made it degraded.
//
// Retries are not run in-process: the decision's delay becomes a JetStream
// NakWithDelay, so a waiting retry holds no worker and survives a crash.
package policy
