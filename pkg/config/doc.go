// Package config holds extsync's two kinds of settings: the process
// settings read from EXTSYNC_* environment variables, and the connectors
// file, validated at start with errors that name file, line and field.
package config
