// Package coherence checks that external systems still hold what extsync
// delivered to them, and puts back what they lost or changed.
//
// A check (Checker.Run) reads each entity's state in extsync_state (the
// record last delivered, reconcile.State.Snapshot), reads the system's
// record back through the connector (connectors.Remote), and compares the
// mapped fields only: an entity is in step, drifted (fields differ), or
// missing (the system has no record). Drifted entities are marked in the
// state, so skip unchanged sends their next version whatever it holds; a
// repair sends the version last delivered again through the connector's
// replay subject, where ordering, conflict rules, the sync log and dead
// letters apply as to any delivery. A Scheduler runs checks on a
// connector's `verify:` schedule, one replica per round.
package coherence
