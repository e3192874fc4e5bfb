// Package broker gives extsync its JetStream: an embedded nats-server when
// no external one is configured, a connection with the configured auth and
// TLS, and the provisioning of the streams and durable consumers extsync
// relies on.
package broker
