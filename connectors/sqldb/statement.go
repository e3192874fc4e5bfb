package sqldb

import (
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// column is one column written, with where its value comes from.
type column struct {
	name   string
	path   string // dotted path in the mapped body
	key    bool   // part of the ON CONFLICT target: must have a value
	ver    bool   // the version column: must have a value
	fromEv bool   // value is the event's entity version, not a body field
}

// plan holds the columns and builds the upsert statement: identifiers are
// validated and quoted, values are always bound parameters ($1, $2, ...).
type plan struct {
	table   pgx.Identifier
	cols    []column
	keys    []string
	version string // version column, "" for an unconditional upsert

	full string // the statement writing every column, built at New
	// del deletes the entity's row; its parameters are delCols' values.
	del     string
	delCols []int // indexes into cols: the key columns, then the version's

	mu    sync.Mutex
	cache map[string]string // present-columns mask -> statement
}

// maxCached bounds the statements kept for events that lack some columns.
const maxCached = 64

func newPlan(cfg *Config, table pgx.Identifier) *plan {
	p := &plan{table: table, keys: cfg.Key, version: cfg.VersionColumn, cache: map[string]string{}}
	listed := map[string]bool{}
	for _, c := range cfg.Columns {
		listed[c.Name] = true
	}
	isKey := map[string]bool{}
	for _, k := range cfg.Key {
		isKey[k] = true
	}
	for _, c := range cfg.Columns {
		p.cols = append(p.cols, column{name: c.Name, path: c.Path, key: isKey[c.Name], ver: c.Name == cfg.VersionColumn})
	}
	for _, k := range cfg.Key {
		if !listed[k] {
			p.cols = append(p.cols, column{name: k, path: k, key: true})
		}
	}
	if v := cfg.VersionColumn; v != "" && !listed[v] {
		p.cols = append(p.cols, column{name: v, ver: true, fromEv: true})
	}
	all := make([]bool, len(p.cols))
	for i := range all {
		all[i] = true
	}
	p.full = p.build(all)
	p.buildDelete()
	return p
}

// buildDelete renders
//
//	DELETE FROM "s"."t" WHERE "id" = $1 AND ("version" IS NULL OR "version" <= $2)
//
// A row holding a newer version than the deletion's was written after
// it (the entity put back): it stays. The deletion's own version
// removes the row, whatever wrote it.
func (p *plan) buildDelete() {
	var conds []string
	var ver = -1
	for i, c := range p.cols {
		switch {
		case c.key:
			p.delCols = append(p.delCols, i)
			conds = append(conds, quote(c.name)+" = $"+strconv.Itoa(len(p.delCols)))
		case c.ver:
			ver = i
		}
	}
	if ver >= 0 && p.version != "" {
		p.delCols = append(p.delCols, ver)
		v, n := quote(p.version), "$"+strconv.Itoa(len(p.delCols))
		conds = append(conds, "("+v+" IS NULL OR "+v+" <= "+n+")")
	}
	p.del = "DELETE FROM " + p.table.Sanitize() + " WHERE " + strings.Join(conds, " AND ")
}

// statement returns the upsert writing the columns marked present. An
// event that lacks a field leaves that column alone: untouched on update,
// the column's default on insert (JSON null, by contrast, writes NULL).
func (p *plan) statement(present []bool) string {
	all := true
	for _, ok := range present {
		all = all && ok
	}
	if all {
		return p.full
	}
	var mask strings.Builder
	for _, ok := range present {
		mask.WriteByte("01"[btoi(ok)])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.cache[mask.String()]; ok {
		return s
	}
	s := p.build(present)
	if len(p.cache) < maxCached {
		p.cache[mask.String()] = s
	}
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// build renders
//
//	INSERT INTO "s"."t" AS t ("id", "name", "version") VALUES ($1, $2, $3)
//	ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "version" = EXCLUDED."version"
//	WHERE t."version" IS NULL OR t."version" < EXCLUDED."version"
//
// The comparison is strict: a repeat of the version the row already holds
// (an at-least-once redelivery, a replay) writes nothing, so it fires no
// trigger and bumps no updated_at, and the row keeps the first event of
// that version. A row whose version is NULL (written before extsync) is
// taken over by any versioned event.
func (p *plan) build(present []bool) string {
	var names, params, sets []string
	n := 0
	for i, c := range p.cols {
		if !present[i] {
			continue
		}
		n++
		q := quote(c.name)
		names = append(names, q)
		params = append(params, "$"+strconv.Itoa(n))
		if !c.key {
			sets = append(sets, q+" = EXCLUDED."+q)
		}
	}
	keys := make([]string, len(p.keys))
	for i, k := range p.keys {
		keys[i] = quote(k)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + p.table.Sanitize() + " AS t (" + strings.Join(names, ", ") + ")")
	b.WriteString(" VALUES (" + strings.Join(params, ", ") + ")")
	b.WriteString(" ON CONFLICT (" + strings.Join(keys, ", ") + ")")
	if len(sets) == 0 {
		// Only key columns: the row exists or is inserted, nothing to update.
		b.WriteString(" DO NOTHING")
		return b.String()
	}
	b.WriteString(" DO UPDATE SET " + strings.Join(sets, ", "))
	if p.version != "" {
		v := quote(p.version)
		b.WriteString(" WHERE t." + v + " IS NULL OR t." + v + " < EXCLUDED." + v)
	}
	return b.String()
}

func quote(name string) string { return pgx.Identifier{name}.Sanitize() }
