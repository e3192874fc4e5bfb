// Package brokertest starts a real, embedded JetStream server for tests:
// in-process, on a random loopback port, with a temporary store.
package brokertest
