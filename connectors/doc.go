// Package connectors declares the one interface the pipeline uses to reach an
// external system, the set of connector kinds (Kinds), and the error classes a
// connector returns so that a single policy layer decides what happens next.
//
// Each kind lives in its own sub-package (httpapi, webhook, soap, sftp,
// sqldb) and imports only this package, pkg/event, pkg/config (for field
// types such as Duration and Secret), pkg/telemetry and, for the HTTP-based
// kinds, connectors/auth. A kind never imports pkg/pipeline or another kind:
// the pipeline depends on the kinds' interface, not the other way round.
// catalog.RegisterDefaults wires the kinds up.
package connectors
