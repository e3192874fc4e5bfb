// Package throttle holds the adaptive rate limit a connector's replicas
// share: additive increase, multiplicative decrease, driven by the
// external system's own slow-down signals (429, 503, Retry-After).
//
// The shared state is one small record per connector in the KV bucket
// extsync_throttle, changed only on a slow-down (by revision CAS), so a
// healthy system costs no writes: the increase is a function of the time
// since the last decrease, which every replica computes alike. Replicas
// announce themselves in the same bucket and each paces itself to its
// share, so three instances together stay under the one limit.
package throttle
