// Package sftp is the `sftp` connector kind: it writes mapped events as
// files (JSON Lines, or CSV in a configured column order) into a directory
// of an SFTP server. Each file is uploaded under a hidden temporary name
// and renamed into place, so a reader never sees a partial file. The
// server's host key is pinned through a known_hosts file; there is no
// insecure mode. Deliver writes one file per event; DeliverBatch (mode:
// batch) writes one file per batch.
package sftp
