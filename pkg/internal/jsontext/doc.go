// Package jsontext appends JSON text the way encoding/json writes it,
// without reflection: for the records written once per event (the sync
// log, the entity state), where encoding/json's cost shows.
package jsontext
