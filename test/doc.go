// Package test holds end-to-end tests that run the real extsync binary, or
// the whole pipeline, against real servers on loopback.
package test
