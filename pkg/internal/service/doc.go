// Package service assembles a running extsync from its settings: the
// broker (embedded or external), the streams extsync owns, the pipeline
// and, with the connector store, the reloader that starts, updates and
// stops connectors as the store changes; and takes it down in order:
// drain deliveries, then close the connection, then stop the embedded
// server.
package service
