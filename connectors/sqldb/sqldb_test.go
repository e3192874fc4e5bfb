package sqldb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/sqldb"
	"github.com/hms/extsync/connectors/sqldb/pgtest"
)

func versioned(table string) string {
	return fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name, version]\nversion_column: version", table)
}

func TestUpsertInsertsThenUpdates(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name]", table))

	out, err := c.Upsert(ctx(t), []*connectors.Delivery{delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "first"})})
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Applied}, out)
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "second"})))

	got := rows(t, table, "id, name")
	require.Len(t, got, 1, "the second event updated the row")
	require.Equal(t, "second", got[0]["name"])
}

func TestOlderVersionNeverOverwritesNewer(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))

	v2 := delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "v2", "version": json.Number("2")})
	v1 := delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "v1", "version": json.Number("1")})
	out, err := c.Upsert(ctx(t), []*connectors.Delivery{v2})
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Applied}, out)

	out, err = c.Upsert(ctx(t), []*connectors.Delivery{v1})
	require.NoError(t, err, "a stale event is a success: it is superseded")
	require.Equal(t, []sqldb.Outcome{sqldb.Stale}, out)
	require.NoError(t, c.Deliver(ctx(t), v1))

	got := rows(t, table, "name, version")
	require.Len(t, got, 1)
	require.Equal(t, "v2", got[0]["name"])
	require.EqualValues(t, 2, got[0]["version"])

	v3 := delivery("wf-1", 3, map[string]any{"id": "wf-1", "name": "v3", "version": 3})
	out, err = c.Upsert(ctx(t), []*connectors.Delivery{v3})
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Applied}, out)
	require.Equal(t, "v3", rows(t, table, "name")[0]["name"])
}

func TestSameVersionTwiceIsHarmless(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	d := delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "once", "version": 1})
	require.NoError(t, c.Deliver(ctx(t), d))
	xmin := func() string {
		var x string
		require.NoError(t, admin(t).QueryRow("SELECT xmin::text FROM "+table).Scan(&x))
		return x
	}
	before := xmin()

	out, err := c.Upsert(ctx(t), []*connectors.Delivery{d}) // an at-least-once redelivery
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Stale}, out)
	require.Equal(t, before, xmin(), "the repeat wrote nothing: no trigger fires, no updated_at moves")
	got := rows(t, table, "name, version")
	require.Len(t, got, 1)
	require.Equal(t, "once", got[0]["name"])
}

func TestRowWithoutVersionIsTakenOver(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	_, err := admin(t).Exec("INSERT INTO " + table + " (id, name) VALUES ('wf-1', 'written before extsync')")
	require.NoError(t, err)
	c := mustBuild(t, versioned(table))
	out, err := c.Upsert(ctx(t), []*connectors.Delivery{delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "synced", "version": 1})})
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Applied}, out)
	require.Equal(t, "synced", rows(t, table, "name")[0]["name"])
}

func TestVersionFromTheEventEnvelope(t *testing.T) {
	// A CloudEvent's entityversion is not in the data: a version column not
	// listed in columns takes the event's entity version.
	table := newTable(t, "id text PRIMARY KEY, name text, rev bigint")
	c := mustBuild(t, fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name]\nversion_column: rev", table))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 5, map[string]any{"id": "wf-1", "name": "v5"})))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 4, map[string]any{"id": "wf-1", "name": "v4"})))
	got := rows(t, table, "name, rev")
	require.Equal(t, "v5", got[0]["name"])
	require.EqualValues(t, 5, got[0]["rev"])

	err := c.Deliver(ctx(t), delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "unversioned"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "without a version the upsert cannot be conditional: %v", err)
	require.ErrorContains(t, err, `"rev"`)
}

func TestMissingKeyOrVersionIsPermanent(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	err := c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"name": "no id", "version": 1}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorContains(t, err, `key column "id"`)
	err = c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "no version"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorContains(t, err, `version column "version"`)
	require.Empty(t, rows(t, table, "id"))
}

func TestPartialEventLeavesOtherColumnsAlone(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, room text, version bigint")
	c := mustBuild(t, fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name, room, version]\nversion_column: version", table))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "n", "room": "4B", "version": 1})))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "renamed", "version": 2})))
	got := rows(t, table, "name, room")[0]
	require.Equal(t, "renamed", got["name"])
	require.Equal(t, "4B", got["room"], "a field the event lacks is not written")

	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 3, map[string]any{"id": "wf-1", "room": nil, "version": 3})))
	got = rows(t, table, "name, room")[0]
	require.Equal(t, "renamed", got["name"])
	require.Nil(t, got["room"], "an explicit null writes NULL")
}

func TestColumnPathsAndTypes(t *testing.T) {
	table := newTable(t, `id bigint PRIMARY KEY, room text, starts timestamptz, fee numeric(12,2),
		open boolean, extra jsonb, version bigint`)
	c := mustBuild(t, fmt.Sprintf(`table: public.%s
		key: [id]
		columns: [id, {room: hearing.room}, {starts: hearing.start_time}, fee, open, extra, version]
		version_column: version`, table))
	body := map[string]any{
		"id":      json.Number("9007199254740993"), // above 2^53: kept exactly
		"hearing": map[string]any{"room": "4B", "start_time": "2026-05-01T09:30:00+02:00"},
		"fee":     json.Number("1234.50"),
		"open":    true,
		"extra":   map[string]any{"judges": []any{"a", "b"}},
		"version": json.Number("1"),
	}
	require.NoError(t, c.Deliver(ctx(t), delivery("x", 1, body)))
	var (
		id          int64
		room, extra string
		starts      time.Time
		fee         string
		open        bool
	)
	require.NoError(t, admin(t).QueryRow("SELECT id, room, starts, fee::text, open, extra::text FROM "+table).
		Scan(&id, &room, &starts, &fee, &open, &extra))
	require.Equal(t, int64(9007199254740993), id)
	require.Equal(t, "4B", room)
	require.True(t, starts.Equal(time.Date(2026, 5, 1, 7, 30, 0, 0, time.UTC)), "got %v", starts)
	require.Equal(t, "1234.50", fee)
	require.True(t, open)
	require.JSONEq(t, `{"judges":["a","b"]}`, extra)

	// A value the column's type cannot hold is the event's fault.
	body["id"], body["fee"], body["version"] = json.Number("2"), "twelve", json.Number("1")
	err := c.Deliver(ctx(t), delivery("y", 1, body))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorContains(t, err, "SQLSTATE 22P02")
}

func TestInjectionInAValueIsStoredVerbatim(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	evil := `'); DROP TABLE ` + table + `; --`
	evilKey := `x"; DELETE FROM ` + table + `; --`
	require.NoError(t, c.Deliver(ctx(t), delivery("a", 1, map[string]any{"id": evilKey, "name": evil, "version": 1})))
	require.NoError(t, c.Deliver(ctx(t), delivery("b", 1, map[string]any{"id": "b", "name": "$1 ? %s \\", "version": 1})))
	got := rows(t, table, "id, name")
	require.Len(t, got, 2, "the table is still there, with both rows")
	require.Equal(t, evilKey, got[0]["id"])
	require.Equal(t, evil, got[0]["name"])
	require.Equal(t, "$1 ? %s \\", got[1]["name"])
}

func TestBatchOf500IsOneTransaction(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	batch := make([]*connectors.Delivery, 500)
	for i := range batch {
		key := fmt.Sprintf("wf-%03d", i)
		batch[i] = delivery(key, 1, map[string]any{"id": key, "name": "n" + key, "version": 1})
	}
	out, err := c.Upsert(ctx(t), batch)
	require.NoError(t, err)
	require.Len(t, out, 500)
	for i, o := range out {
		require.Equal(t, sqldb.Applied, o, "row %d", i)
	}
	var n, txs int
	require.NoError(t, admin(t).QueryRow("SELECT count(*), count(DISTINCT xmin::text) FROM "+table).Scan(&n, &txs))
	require.Equal(t, 500, n)
	require.Equal(t, 1, txs, "every row was written by the same transaction")
}

func TestBatchWithOneBadRowAppliesNothing(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text CONSTRAINT name_not_bad CHECK (name <> 'bad'), version bigint")
	c := mustBuild(t, versioned(table))
	batch := make([]*connectors.Delivery, 500)
	for i := range batch {
		key, name := fmt.Sprintf("wf-%03d", i), "ok"
		if i == 250 {
			name = "bad"
		}
		batch[i] = delivery(key, 1, map[string]any{"id": key, "name": name, "version": 1})
	}
	err := c.DeliverBatch(ctx(t), batch)
	require.Error(t, err)
	require.Equal(t, connectors.Permanent, connectors.Classify(err), "%v", err)
	require.ErrorContains(t, err, "name_not_bad", "the error names the constraint")
	require.ErrorContains(t, err, "SQLSTATE 23514")
	var se *sqldb.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, 250, se.Item)
	require.Equal(t, "evt-wf-250-1", se.EventID)
	var pg *pgconn.PgError
	require.ErrorAs(t, err, &pg, "the driver's error stays reachable")
	require.Empty(t, rows(t, table, "id"), "the whole batch was rolled back")

	// The connection went back to the pool in a usable state.
	require.NoError(t, c.DeliverBatch(ctx(t), batch[:250]))
	require.Len(t, rows(t, table, "id"), 250)
}

func TestBatchWithSeveralVersionsOfOneEntity(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	batch := []*connectors.Delivery{
		delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "v1", "version": 1}),
		delivery("wf-1", 3, map[string]any{"id": "wf-1", "name": "v3", "version": 3}),
		delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "v2", "version": 2}),
		delivery("wf-2", 1, map[string]any{"id": "wf-2", "name": "other", "version": 1}),
	}
	out, err := c.Upsert(ctx(t), batch)
	require.NoError(t, err)
	require.Equal(t, []sqldb.Outcome{sqldb.Applied, sqldb.Applied, sqldb.Stale, sqldb.Applied}, out)
	got := rows(t, table, "id, name")
	require.Equal(t, "v3", got[0]["name"])
	require.Equal(t, "other", got[1]["name"])
}

func TestLockedRowTimesOutAsTransient(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table)+"\ntimeout: 300ms")
	require.Equal(t, 300*time.Millisecond, c.Timeout())
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "v1", "version": 1})))

	tx, err := admin(t).BeginTx(ctx(t), nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	_, err = tx.Exec("SELECT * FROM " + table + " FOR UPDATE")
	require.NoError(t, err)

	start := time.Now()
	err = c.Deliver(ctx(t), delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "v2", "version": 2}))
	require.ErrorIs(t, err, connectors.ErrTransient, "%v", err)
	require.ErrorContains(t, err, "timed out")
	require.Less(t, time.Since(start), 10*time.Second, "the connector's timeout bounds the wait")
	require.NoError(t, tx.Rollback())

	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "v2", "version": 2})))
	require.Equal(t, "v2", rows(t, table, "name")[0]["name"])
}

func TestUndefinedTableIsPermanent(t *testing.T) {
	c := mustBuild(t, "table: no_such_table\nkey: [id]\ncolumns: [id, name]")
	err := c.Deliver(ctx(t), delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "x"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorContains(t, err, "SQLSTATE 42P01")
	err = c.DeliverBatch(ctx(t), []*connectors.Delivery{
		delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "x"}),
		delivery("wf-2", 0, map[string]any{"id": "wf-2", "name": "y"}),
	})
	require.ErrorIs(t, err, connectors.ErrPermanent)
	var se *sqldb.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, -1, se.Item, "a missing table is no one row's fault")
}

func TestServerStoppedIsTransient(t *testing.T) {
	srv, err := pgtest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	admin, err := pgxConnect(t, srv.DSN(pgtest.Database))
	require.NoError(t, err)
	_, err = admin.Exec(context.Background(), "CREATE TABLE w (id text PRIMARY KEY, name text)")
	require.NoError(t, err)
	require.NoError(t, admin.Close(context.Background()))

	c, err := build(t, srv.DSN(pgtest.Database), "table: w\nkey: [id]\ncolumns: [id, name]\ntimeout: 5s")
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 0, map[string]any{"id": "wf-1", "name": "x"})))

	require.NoError(t, srv.Stop()) // the pooled connection is now dead too
	for _, batch := range [][]*connectors.Delivery{
		{delivery("wf-2", 0, map[string]any{"id": "wf-2", "name": "y"})},
		{delivery("wf-3", 0, map[string]any{"id": "wf-3", "name": "y"}), delivery("wf-4", 0, map[string]any{"id": "wf-4", "name": "z"})},
		{delivery("wf-5", 0, map[string]any{"id": "wf-5", "name": "y"})},
	} {
		err = c.DeliverBatch(ctx(t), batch)
		t.Logf("server stopped: %v", err)
		require.ErrorIs(t, err, connectors.ErrTransient, "%v", err)
		requireNoSecret(t, err, srv.Password, srv.DSN(pgtest.Database))
	}
}

func TestBadConfigIsRejectedAtNew(t *testing.T) {
	dsn := "postgres://u:S3cret-pw@127.0.0.1:1/db"
	for name, block := range map[string]string{
		"injected table":        "table: t; DROP TABLE x\nkey: [id]\ncolumns: [id]",
		"quoted table":          "table: '\"t\"'\nkey: [id]\ncolumns: [id]",
		"three-part table":      "table: a.b.c\nkey: [id]\ncolumns: [id]",
		"table from a digit":    "table: 1t\nkey: [id]\ncolumns: [id]",
		"empty table":           "key: [id]\ncolumns: [id]",
		"bad key":               "table: t\nkey: [\"id; --\"]\ncolumns: [id]",
		"no key":                "table: t\ncolumns: [id]",
		"bad column":            "table: t\nkey: [id]\ncolumns: [id, \"na me\"]",
		"column with a quote":   "table: t\nkey: [id]\ncolumns: [id, 'a\"b']",
		"bad mapped column":     "table: t\nkey: [id]\ncolumns: [id, {\"x)\": path}]",
		"duplicate column":      "table: t\nkey: [id]\ncolumns: [id, name, name]",
		"no columns":            "table: t\nkey: [id]",
		"bad version column":    "table: t\nkey: [id]\ncolumns: [id]\nversion_column: v-1",
		"version column as key": "table: t\nkey: [id]\ncolumns: [id]\nversion_column: id",
		"long name":             "table: t\nkey: [id]\ncolumns: [id, " + strings.Repeat("c", 64) + "]",
		"other driver":          "driver: mysql\ntable: t\nkey: [id]\ncolumns: [id]",
		"negative pool":         "table: t\nkey: [id]\ncolumns: [id]\nmax_open_conns: -1",
		"unknown field":         "table: t\nkey: [id]\ncolumns: [id]\npasword: x",
		"bad timeout":           "table: t\nkey: [id]\ncolumns: [id]\ntimeout: soon",
		"column not a name":     "table: t\nkey: [id]\ncolumns: [id, [a, b]]",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := build(t, dsn, block)
			require.Error(t, err)
			requireNoSecret(t, err, "S3cret-pw", dsn)
		})
	}
	for name, dsn := range map[string]string{
		"bad port":    "postgres://u:S3cret-pw@127.0.0.1:notaport/db",
		"bad keyword": "host=localhost password=S3cret-pw sslmode=sometimes",
		"bad url":     "postgres://u:S3cret-pw@[::1/db",
	} {
		t.Run("dsn "+name, func(t *testing.T) {
			_, err := build(t, dsn, "table: t\nkey: [id]\ncolumns: [id]")
			require.ErrorContains(t, err, "sql.dsn")
			requireNoSecret(t, err, "S3cret-pw", dsn)
		})
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	_, err := build(t, "postgres://u:p@localhost/db", "table: t\nkey: [id]\ncolumns: [id, {a: b, c: d}]")
	require.ErrorContains(t, err, "connectors.yaml:9:")
	require.ErrorContains(t, err, "one-entry map")
}

func TestDefaults(t *testing.T) {
	c, err := build(t, "postgres://u:p@localhost/db", "table: s.t\nkey: [id]\ncolumns: [id]")
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, c.Timeout())
	require.NoError(t, c.Close())
}

func TestPasswordNeverInAnError(t *testing.T) {
	srv := server(t)
	table := newTable(t, "id text PRIMARY KEY, name text NOT NULL, version bigint CHECK (version > 0)")
	block := versioned(table) + "\ntimeout: 5s"
	wrongPW := "Wr0ng-" + srv.Password
	var errs []error
	collect := func(c *sqldb.Connector, d *connectors.Delivery) {
		t.Helper()
		err := c.Deliver(ctx(t), d)
		require.Error(t, err)
		errs = append(errs, err)
	}
	good := mustBuild(t, block)
	collect(good, delivery("a", 1, map[string]any{"id": "a", "version": 1}))               // 23502 not null
	collect(good, delivery("a", 1, map[string]any{"id": "a", "name": "x", "version": -1})) // 23514 check
	collect(good, delivery("a", 1, map[string]any{"id": "a", "name": "x", "version": "one"}))
	undefined := mustBuild(t, "table: nowhere\nkey: [id]\ncolumns: [id]")
	collect(undefined, delivery("a", 0, map[string]any{"id": "a"}))

	down, err := build(t, closedPortDSN(t, srv.Password), block)
	require.NoError(t, err)
	defer down.Close()
	collect(down, delivery("a", 1, map[string]any{"id": "a", "name": "x", "version": 1}))

	wrongDSN := strings.Replace(srv.DSN(pgtest.Database), srv.Password, wrongPW, 1)
	wrong, err := build(t, wrongDSN, block)
	require.NoError(t, err)
	defer wrong.Close()
	collect(wrong, delivery("a", 1, map[string]any{"id": "a", "name": "x", "version": 1}))
	require.ErrorContains(t, errs[len(errs)-1], "28P01")
	require.ErrorIs(t, errs[len(errs)-1], connectors.ErrTransient, "a rejected login is the configuration's fault, not the event's")

	for i, err := range errs {
		t.Logf("error %d: %v", i, err)
		requireNoSecret(t, err, srv.Password, srv.DSN(pgtest.Database))
		requireNoSecret(t, err, wrongPW, wrongDSN)
	}
}

// requireNoSecret checks the message of err and of everything it wraps.
func requireNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range secrets {
			require.NotContains(t, e.Error(), s, "an error reveals a secret")
			require.NotContains(t, fmt.Sprintf("%+v", e), s, "an error reveals a secret")
		}
	}
}

func TestConnectionKilledMidBatchIsTransient(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-0", 1, map[string]any{"id": "wf-0", "name": "v1", "version": 1})))

	// Hold the row so the batch blocks inside its transaction.
	tx, err := admin(t).BeginTx(ctx(t), nil)
	require.NoError(t, err)
	defer tx.Rollback() //nolint:errcheck
	_, err = tx.Exec("SELECT * FROM " + table + " FOR UPDATE")
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		done <- c.DeliverBatch(context.Background(), []*connectors.Delivery{
			delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "new", "version": 1}),
			delivery("wf-0", 2, map[string]any{"id": "wf-0", "name": "v2", "version": 2}),
		})
	}()
	db := admin(t)
	require.Eventually(t, func() bool {
		var killed bool
		err := db.QueryRow(`SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity
			WHERE application_name = 'extsync-legacy' AND wait_event_type = 'Lock'`).Scan(&killed)
		return err == nil && killed
	}, 10*time.Second, 20*time.Millisecond, "the batch waits for the lock")
	err = <-done
	t.Logf("backend terminated: %v", err)
	require.ErrorIs(t, err, connectors.ErrTransient, "%v", err)
	require.NoError(t, tx.Rollback())
	got := rows(t, table, "id, name")
	require.Len(t, got, 1, "the batch's first row was rolled back")
	require.Equal(t, "v1", got[0]["name"])

	// The dead connection left the pool; the retry goes through.
	require.NoError(t, c.DeliverBatch(ctx(t), []*connectors.Delivery{
		delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "new", "version": 1}),
		delivery("wf-0", 2, map[string]any{"id": "wf-0", "name": "v2", "version": 2}),
	}))
	require.Len(t, rows(t, table, "id"), 2)
}
