// Package service assembles a running extsync from its settings: the
// broker (embedded or external), the streams extsync owns, and the
// pipeline; and takes it down in order: drain deliveries, then close the
// connection, then stop the embedded server.
package service
