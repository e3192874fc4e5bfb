// Package deadletter parks events that cannot be delivered on the
// EXTSYNC_DLQ stream (subjects extsync.dlq.<connector>): the original body
// and headers, plus Extsync-* headers saying where the event came from, how
// often it was tried and why it failed. Dead letters never expire.
package deadletter
