// Package batch holds what mode: batch needs apart from the broker: the
// schedule (every, daily at, in a time zone) driven by an injectable
// clock, and the coalescer that keeps only the newest version of each
// entity in a batch.
package batch
