package sqldb_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/sqldb/pgtest"
)

// TestDocumentedGrantsAreEnough creates a role with exactly the grants
// README.md lists for a versioned table and upserts through the
// connector as that role: an insert, an update, and an older version
// that changes nothing.
func TestDocumentedGrantsAreEnough(t *testing.T) {
	table := fmt.Sprintf("g_%d", tableN.Add(1))
	role := "grants_" + table
	db := admin(t)
	for _, stmt := range []string{
		fmt.Sprintf("CREATE TABLE %s (id text PRIMARY KEY, name text, version bigint)", table),
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-%s'", role, role),
		// The grants README.md documents, no more.
		fmt.Sprintf("GRANT INSERT, UPDATE ON %s TO %s", table, role),
		fmt.Sprintf("GRANT SELECT (id, name, version) ON %s TO %s", table, role),
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(fmt.Sprintf("DROP TABLE IF EXISTS %s", table))
		_, _ = db.Exec(fmt.Sprintf("DROP ROLE IF EXISTS %s", role))
	})
	u, err := url.Parse(server(t).DSN(pgtest.Database))
	require.NoError(t, err)
	u.User = url.UserPassword(role, "pw-"+role)
	c, err := build(t, u.String(), versioned(table))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "first", "version": 1})))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 3, map[string]any{"id": "wf-1", "name": "third", "version": 3})))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 2, map[string]any{"id": "wf-1", "name": "second", "version": 2})))
	var n int
	var name string
	require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT count(*), max(name) FROM %s", table)).Scan(&n, &name))
	require.Equal(t, 1, n)
	require.Equal(t, "third", name, "the newest version stays")
}
