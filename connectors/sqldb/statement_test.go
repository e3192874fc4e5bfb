package sqldb

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

func TestStatement(t *testing.T) {
	cfg := &Config{
		Table: "legacy.hearings", Key: []string{"case_ref", "court"}, VersionColumn: "rev",
		Columns: []Column{{"case_ref", "id"}, {"court", "court"}, {"room", "hearing.room"}, {"Starts", "start"}},
	}
	p := newPlan(cfg, pgx.Identifier{"legacy", "hearings"})
	require.Equal(t, `INSERT INTO "legacy"."hearings" AS t ("case_ref", "court", "room", "Starts", "rev") `+
		`VALUES ($1, $2, $3, $4, $5) ON CONFLICT ("case_ref", "court") `+
		`DO UPDATE SET "room" = EXCLUDED."room", "Starts" = EXCLUDED."Starts", "rev" = EXCLUDED."rev" `+
		`WHERE t."rev" IS NULL OR t."rev" < EXCLUDED."rev"`, p.full)
	require.True(t, p.cols[4].fromEv, "a version column not listed is the event's entity version")
	require.Equal(t, `DELETE FROM "legacy"."hearings" WHERE "case_ref" = $1 AND "court" = $2 `+
		`AND ("rev" IS NULL OR "rev" <= $3)`, p.del)
	require.Equal(t, []int{0, 1, 4}, p.delCols)

	partial := p.statement([]bool{true, true, false, true, true})
	require.Equal(t, `INSERT INTO "legacy"."hearings" AS t ("case_ref", "court", "Starts", "rev") `+
		`VALUES ($1, $2, $3, $4) ON CONFLICT ("case_ref", "court") `+
		`DO UPDATE SET "Starts" = EXCLUDED."Starts", "rev" = EXCLUDED."rev" `+
		`WHERE t."rev" IS NULL OR t."rev" < EXCLUDED."rev"`, partial)
	require.Equal(t, partial, p.statement([]bool{true, true, false, true, true}))
	require.Len(t, p.cache, 1)
}

func TestStatementWithoutVersion(t *testing.T) {
	cfg := &Config{Table: "t", Key: []string{"id"}, Columns: []Column{{"name", "name"}}}
	p := newPlan(cfg, pgx.Identifier{"t"})
	require.Equal(t, `INSERT INTO "t" AS t ("name", "id") VALUES ($1, $2) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name"`, p.full,
		"a key column not listed is added, its value from the field of that name")
	require.Equal(t, `INSERT INTO "t" AS t ("id") VALUES ($1) ON CONFLICT ("id") DO NOTHING`, p.statement([]bool{false, true}))
}

func TestSQLStateClasses(t *testing.T) {
	for code, want := range map[string]connectors.Class{
		"08006": connectors.Transient, // connection failure
		"08001": connectors.Transient,
		"40001": connectors.Transient, // serialization failure
		"40P01": connectors.Transient, // deadlock
		"53300": connectors.Transient, // too many connections
		"53100": connectors.Transient, // disk full
		"57P01": connectors.Transient, // admin shutdown
		"57P03": connectors.Transient, // cannot connect now
		"57014": connectors.Transient, // query cancelled (statement_timeout)
		"55P03": connectors.Transient, // lock not available
		"25006": connectors.Transient, // read-only transaction: a standby after failover
		"28P01": connectors.Transient, // password rejected: fixed by an operator
		"XX000": connectors.Transient,
		"23502": connectors.Permanent, // not null
		"23505": connectors.Permanent, // unique on a non-key column
		"23514": connectors.Permanent, // check
		"23503": connectors.Permanent, // foreign key
		"22P02": connectors.Permanent, // invalid text representation
		"22001": connectors.Permanent, // value too long
		"42P01": connectors.Permanent, // undefined table
		"42703": connectors.Permanent, // undefined column
		"42P10": connectors.Permanent, // no unique constraint matching ON CONFLICT
		"42501": connectors.Permanent, // insufficient privilege
		"P0001": connectors.Permanent, // a trigger's RAISE EXCEPTION
		"40002": connectors.Permanent, // deferred constraint at commit
		"":      connectors.Transient,
	} {
		require.Equal(t, want, classOf(code), code)
	}
}

func TestParam(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want any
	}{
		{nil, nil}, {"x", "x"}, {true, "true"}, {float64(1.5), "1.5"}, {float64(1e21), "1000000000000000000000"},
		{7, "7"}, {map[string]any{"a": 1}, `{"a":1}`}, {[]any{"a", nil}, `["a",null]`},
	} {
		got, err := param(tc.in)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%#v", tc.in)
	}
	_, err := param(map[string]any{"f": func() {}})
	require.Error(t, err)
}
