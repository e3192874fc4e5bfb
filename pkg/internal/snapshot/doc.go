// Package snapshot keeps the newest version of every entity in the
// stream EXTSYNC_SNAPSHOT, one message per entity (MaxMsgsPerSubject 1),
// so its size follows the number of entities, not the event history.
//
// A Writer, run by every `extsync serve` on one shared durable consumer
// (extsync-snapshot), copies each event of the event stream to its
// entity's subject when it is newer than what is stored there. Entries
// and Send read it back for one connector: to seed a connector that
// starts with `start: snapshot`, for `extsync resync`, and for repairs
// after the event itself aged out of the event stream.
package snapshot
