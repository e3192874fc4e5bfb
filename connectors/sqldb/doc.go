// Package sqldb is the `sql` connector kind: each event becomes one row of
// a table in a legacy database, upserted through database/sql with pgx
// (PostgreSQL) as the driver.
//
// The statement is built from the configuration (table, key columns,
// column list), identifiers validated and quoted, values always bound
// parameters; the one writing every column is built at start, those for
// events that lack some fields (their columns left alone) on first use,
// and a bounded number kept (statement.go):
//
//	INSERT INTO "t" AS t (...) VALUES ($1, ...) ON CONFLICT (key) DO UPDATE SET ...
//	WHERE t.version IS NULL OR t.version < EXCLUDED.version
//
// With a version column an older event never overwrites a newer row; a row
// left alone that way is a success (Stale: the event is superseded). A
// batch (DeliverBatch) is one transaction, sent pipelined in one round
// trip: all rows or none.
//
// Errors are classified by SQLSTATE (errors.go): integrity, data and
// schema errors are permanent, connection, serialization, resource and
// shutdown errors transient, as are network failures and timeouts. No
// error ever holds the DSN or its password. README.md beside this file is
// the user's reference.
package sqldb
