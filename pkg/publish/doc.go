// Package publish is the Go SDK platform modules use to publish events the
// way extsync reads them best: a CloudEvents 1.0 JSON envelope, a
// Nats-Msg-Id equal to the event id (so a retried publish is stored once),
// and a wait for JetStream's PubAck before returning.
package publish
