// Package synclog records every delivery attempt on the EXTSYNC_LOG stream
// (subjects extsync.log.<connector>): what was sent, how it went, how long
// it took. It is what an operator reads to learn what happened to an event.
package synclog
