// Package connectors declares the one interface the pipeline uses to reach an
// external system, the connector store of connector kinds, and the error classes a
// connector returns so that a single policy layer decides what happens next.
//
// Each kind lives in its own sub-package (httpapi, webhook, ...) and imports
// only this package and pkg/event; catalog.RegisterDefaults wires them up.
package connectors
