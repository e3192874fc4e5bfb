// Package event holds the envelope extsync works on: an event read from the
// HMS_EVENTS stream with its id, entity key, version and data, decoded from
// a CloudEvent (structured or binary mode) or a plain JSON object, plus the
// dotted-path lookups that mapping and URL templates use.
package event
