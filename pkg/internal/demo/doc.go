// Package demo runs extsync's central use case on one machine: an embedded
// JetStream server, a court scheduling simulator on loopback and the
// pipeline, narrating each event from publish to the court's answer.
package demo
