// Package connstore is the connector store: the KV bucket
// extsync_connectors holds one connectors document per connector, its
// ${VAR} references unexpanded, so secrets stay in each instance's
// environment. `extsync connectors apply|rm` write it, `serve` applies its
// connectors file to it at start, and every running instance watches it
// and starts, updates or stops that connector without a restart.
package connstore
