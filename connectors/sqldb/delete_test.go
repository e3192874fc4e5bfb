package sqldb_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func deletion(key string, version int, body map[string]any) *connectors.Delivery {
	d := delivery(key, version, body)
	d.Delete = true
	return d
}

func TestDeletionRemovesTheRowAndAgainIsHarmless(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text")
	c := mustBuild(t, fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name]", table))
	for _, id := range []string{"wf-1", "wf-2"} {
		require.NoError(t, c.Deliver(ctx(t), delivery(id, 0, map[string]any{"id": id, "name": "open"})))
	}
	gone := deletion("wf-1", 0, map[string]any{"id": "wf-1"}) // a deletion names the row by its key alone
	require.NoError(t, connectors.Send(ctx(t), c, gone))
	require.Equal(t, []map[string]any{{"id": "wf-2"}}, rows(t, table, "id"), "only wf-1's row is deleted")
	require.NoError(t, connectors.Send(ctx(t), c, gone), "the row is gone already: done")

	err := connectors.Send(ctx(t), c, deletion("wf-2", 0, map[string]any{"name": "no key"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "a deletion without its key cannot name a row: %v", err)
	require.Len(t, rows(t, table, "id"), 1)
}

func TestDeletionKeepsARowOfANewerVersion(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, version bigint")
	c := mustBuild(t, versioned(table))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 3, map[string]any{"id": "wf-1", "name": "v3", "version": 3})))

	require.NoError(t, connectors.Send(ctx(t), c, deletion("wf-1", 2, map[string]any{"id": "wf-1", "version": 2})),
		"an older deletion is a success: superseded")
	require.Len(t, rows(t, table, "id"), 1, "the row written after that deletion stays")

	require.NoError(t, connectors.Send(ctx(t), c, deletion("wf-1", 4, map[string]any{"id": "wf-1", "version": 4})))
	require.Empty(t, rows(t, table, "id"))
}

func TestBatchDeletesInItsTransaction(t *testing.T) {
	table := newTable(t, "id text PRIMARY KEY, name text, rev bigint")
	c := mustBuild(t, fmt.Sprintf("table: %s\nkey: [id]\ncolumns: [id, name]\nversion_column: rev", table))
	require.NoError(t, c.Deliver(ctx(t), delivery("wf-1", 1, map[string]any{"id": "wf-1", "name": "a"})))
	require.NoError(t, c.DeliverBatch(ctx(t), []*connectors.Delivery{
		deletion("wf-1", 2, map[string]any{"id": "wf-1"}),
		delivery("wf-2", 1, map[string]any{"id": "wf-2", "name": "b"}),
	}))
	require.Equal(t, []map[string]any{{"id": "wf-2"}}, rows(t, table, "id"))
}
