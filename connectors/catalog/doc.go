// Package catalog registers the connector kinds extsync ships with (http,
// webhook, soap, sftp, sql). It is the one place that imports every kind:
// the commands, the benchmark and tests take the built-in set from
// RegisterDefaults or Default, and a kind never imports another.
package catalog
