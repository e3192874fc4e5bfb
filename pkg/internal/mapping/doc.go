// Package mapping turns an event's data into the external system's record:
// each rule copies the value at an internal dotted path to an external
// dotted path, keeping nested objects and arrays intact.
package mapping
