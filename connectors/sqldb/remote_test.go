package sqldb_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

// Fetch reads back the row an upsert wrote, each column at the path of
// the mapped record it was written from.
func TestFetchReadsTheRowBackAsTheMappedRecord(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, version bigint, room text, starts timestamptz, seats int, extra jsonb")
	c := mustBuild(t, "table: "+table+"\nkey: [id]\ncolumns: [id, {room: hearing.room}, starts, seats, extra]\nversion_column: version")
	body := map[string]any{"id": "H-1", "hearing": map[string]any{"room": "4B"}, "starts": "2026-05-01T09:00:00Z",
		"seats": 12.0, "extra": map[string]any{"a": []any{1.0, "b"}}}
	require.NoError(t, c.Deliver(ctx(t), delivery("H-1", 3, body)))

	got, etag, err := c.Fetch(ctx(t), delivery("H-1", 3, body))
	require.NoError(t, err)
	require.Empty(t, etag)
	require.Equal(t, "H-1", got["id"])
	require.Equal(t, map[string]any{"room": "4B"}, got["hearing"])
	require.Equal(t, 12.0, got["seats"])
	require.Equal(t, map[string]any{"a": []any{1.0, "b"}}, got["extra"])
	require.Regexp(t, `^2026-05-01T09:00:00(\+00:00|Z)$`, got["starts"], "the instant, as PostgreSQL writes it")
	require.NotContains(t, got, "version", "the version column comes from the event, not the record")
}

func TestFetchOfAMissingRowIsNil(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text")
	c := mustBuild(t, "table: "+table+"\nkey: [id]\ncolumns: [id, name]")
	got, _, err := c.Fetch(ctx(t), delivery("nope", 0, map[string]any{"id": "nope", "name": "x"}))
	require.NoError(t, err)
	require.Nil(t, got)
}

func TestFetchByACompositeKeyWithANULLColumn(t *testing.T) {
	table := newTable(t, "court text, num int, name text, PRIMARY KEY (court, num)")
	c := mustBuild(t, "table: "+table+"\nkey: [court, num]\ncolumns: [court, num, name]")
	_, err := admin(t).Exec("INSERT INTO " + table + " (court, num, name) VALUES ('c1', 7, NULL)")
	require.NoError(t, err)
	got, _, err := c.Fetch(ctx(t), delivery("c1-7", 0, map[string]any{"court": "c1", "num": 7.0}))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"court": "c1", "num": 7.0, "name": nil}, got)
}

func TestFetchWithoutTheKeyFieldIsPermanent(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text")
	c := mustBuild(t, "table: "+table+"\nkey: [id]\ncolumns: [id, name]")
	_, _, err := c.Fetch(ctx(t), delivery("x", 0, map[string]any{"name": "x"}))
	require.Equal(t, connectors.Permanent, connectors.Classify(err))
	require.ErrorContains(t, err, `no field "id"`)
}

func TestFetchFromAMissingTableIsClassified(t *testing.T) {
	c := mustBuild(t, "table: no_such_table\nkey: [id]\ncolumns: [id, name]")
	_, _, err := c.Fetch(ctx(t), delivery("x", 0, map[string]any{"id": "x"}))
	require.Equal(t, connectors.Permanent, connectors.Classify(err))
	require.ErrorContains(t, err, "read from")
}
