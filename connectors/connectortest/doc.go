// Package connectortest is the one test suite every connector kind must
// pass, run against a real server of the kind's protocol on loopback
// (suite.go), plus Traced, the context under which an HTTP kind's
// trace propagation is checked (trace.go).
package connectortest
