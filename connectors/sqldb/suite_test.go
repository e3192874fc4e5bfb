package sqldb_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/connectors/sqldb/pgtest"
)

// closedPortDSN is a DSN, password included, for a port nothing listens on.
func closedPortDSN(t *testing.T, password string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=5", pgtest.User, password, addr, pgtest.Database)
}

func TestSuite(t *testing.T) {
	srv := server(t)
	table := newTable(t, "id text PRIMARY KEY, version bigint, name text")
	strict := newTable(t, "id text PRIMARY KEY, version bigint, name text, courtroom text NOT NULL")
	block := func(table string, extra string) string {
		return fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, version, name%s]\nversion_column: version\ntimeout: 5s", table, extra)
	}
	connectortest.Run(t, connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			return mustBuild(t, block(table, ""))
		},
		NewUnreachable: func(t *testing.T) connectors.Connector {
			c, err := build(t, closedPortDSN(t, srv.Password), block(table, ""))
			require.NoError(t, err, "New does no I/O, so a database that is down builds fine")
			return c
		},
		// The events carry no courtroom, which the table requires.
		Rejecting: func(t *testing.T) connectors.Connector {
			return mustBuild(t, block(strict, ", courtroom"))
		},
		Received: func(t *testing.T) []string {
			var keys []string
			for _, r := range rows(t, table, "id") {
				keys = append(keys, r["id"].(string))
			}
			return keys
		},
	})
}
