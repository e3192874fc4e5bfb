package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/sqldb"
	"github.com/hms/extsync/connectors/sqldb/pgtest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

// One PostgreSQL server for the whole test binary, started by the first
// test that needs it and stopped after the last; each test gets its own
// table. Without the binaries those tests fail, saying what to install.
var (
	pgOnce  sync.Once
	pgSrv   *pgtest.Server
	pgErr   error
	adminDB *sql.DB
	tableN  atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if adminDB != nil {
		_ = adminDB.Close()
	}
	if pgSrv != nil {
		if err := pgSrv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop postgres:", err)
		}
	}
	os.Exit(code)
}

// server returns the shared server, failing the test when PostgreSQL is
// not installed.
func server(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() {
		pgSrv, pgErr = pgtest.Start()
		if pgErr == nil {
			cfg, err := pgx.ParseConfig(pgSrv.DSN(pgtest.Database))
			if err != nil {
				pgErr = err
				return
			}
			adminDB = stdlib.OpenDB(*cfg)
		}
	})
	if pgErr != nil {
		t.Fatalf("this test needs a real PostgreSQL: %v", pgErr)
	}
	return pgSrv
}

// admin runs SQL on the shared test database.
func admin(t *testing.T) *sql.DB {
	t.Helper()
	server(t)
	return adminDB
}

// newTable creates a fresh table with the given column definitions and
// returns its name; seq numbers rows in insertion order.
func newTable(t *testing.T, columns string) string {
	t.Helper()
	name := fmt.Sprintf("t_%d", tableN.Add(1))
	_, err := admin(t).Exec(fmt.Sprintf("CREATE TABLE %s (seq bigserial, %s)", name, columns))
	require.NoError(t, err)
	return name
}

// build builds a connector from an `sql:` block (YAML lines without the
// indentation), with dsn: "${DB_DSN}" resolved to dsn.
func build(t *testing.T, dsn, block string) (*sqldb.Connector, error) {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("connectors:\n  - name: legacy\n    kind: sql\n    subjects: [hms.workflow.updated]\n    sql:\n")
	doc.WriteString("      dsn: \"${DB_DSN}\"\n")
	for line := range strings.SplitSeq(strings.TrimSpace(block), "\n") {
		doc.WriteString("      " + strings.TrimSpace(line) + "\n")
	}
	env := func(name string) (string, bool) {
		if name == "DB_DSN" {
			return dsn, true
		}
		return "", false
	}
	f, err := config.Parse("connectors.yaml", []byte(doc.String()), env, nil)
	if err != nil {
		return nil, err
	}
	c, err := sqldb.Factory{}.New(connectors.Spec{Name: "legacy", Concurrency: 4, Decode: f.Connectors[0].Decode})
	if err != nil {
		return nil, err
	}
	return c.(*sqldb.Connector), nil
}

// mustBuild builds a connector on the shared test database.
func mustBuild(t *testing.T, block string) *sqldb.Connector {
	t.Helper()
	c, err := build(t, server(t).DSN(pgtest.Database), block)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// delivery is an event for entity key at version (0: none) whose mapped
// body is body.
func delivery(key string, version int, body map[string]any) *connectors.Delivery {
	ev := &event.Event{
		ID: fmt.Sprintf("evt-%s-%d", key, version), Subject: "hms.workflow.updated", Stream: "HMS_EVENTS",
		Key: key, Time: time.Now(), Data: body, Body: []byte(`{}`),
	}
	if version > 0 {
		ev.Version = fmt.Sprint(version)
	}
	return &connectors.Delivery{Event: ev, Body: body, Attempt: 1}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// rows returns the table's rows as maps, in insertion order.
func rows(t *testing.T, table, columns string) []map[string]any {
	t.Helper()
	r, err := admin(t).Query(fmt.Sprintf("SELECT %s FROM %s ORDER BY seq", columns, table))
	require.NoError(t, err)
	defer r.Close()
	cols, err := r.Columns()
	require.NoError(t, err)
	var out []map[string]any
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, r.Scan(ptrs...))
		m := map[string]any{}
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	require.NoError(t, r.Err())
	return out
}

func pgxConnect(t *testing.T, dsn string) (*pgx.Conn, error) {
	t.Helper()
	return pgx.Connect(ctx(t), dsn)
}
