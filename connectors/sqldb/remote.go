package sqldb

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
)

var _ connectors.Remote = (*Connector)(nil)

// Fetch implements connectors.Remote: it reads the entity's row by its
// key (the key columns' values from d.Body, as the upsert takes them)
// and returns the columns written, each at the path of the mapped record
// it is written from, so the record compares field by field with what
// was sent. A missing row is a nil body, not an error. Values come as the
// server renders them in JSON (to_jsonb): a timestamptz as an ISO 8601
// text, a numeric as a number, a json column as its object.
func (c *Connector) Fetch(ctx context.Context, d *connectors.Delivery) (map[string]any, string, error) {
	id := eventID(d)
	cols, keys := c.plan.readable(), c.plan.keyColumns()
	args := make([]any, len(keys))
	for i, k := range keys {
		v, ok := event.Lookup(d.Body, k.path)
		if !ok || v == nil {
			return nil, "", rowError(c.read, -1, id, "the record has no field %q for key column %s", k.path, quote(k.name))
		}
		p, err := param(v)
		if err != nil {
			return nil, "", rowError(c.read, -1, id, "key column %s: %v", quote(k.name), err)
		}
		args[i] = p
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, "", c.classify("connect", err, -1, "")
	}
	defer conn.Close()
	vals := make([]*string, len(cols))
	found := true
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		dest := make([]any, len(vals))
		for i := range vals {
			dest[i] = &vals[i]
		}
		err := pc.QueryRow(ctx, c.plan.selectRow(), args...).Scan(dest...)
		if errors.Is(err, pgx.ErrNoRows) {
			found, err = false, nil
		}
		return err
	})
	if err != nil {
		return nil, "", c.classify(c.read, err, -1, id)
	}
	if !found {
		return nil, "", nil
	}
	body := map[string]any{}
	for i, col := range cols {
		var v any
		if vals[i] != nil {
			if err := json.Unmarshal([]byte(*vals[i]), &v); err != nil {
				return nil, "", rowError(c.read, -1, id, "column %s: %v", quote(col.name), err)
			}
		}
		if err := event.SetPath(body, col.path, v); err != nil {
			return nil, "", rowError(c.read, -1, id, "column %s: %v", quote(col.name), err)
		}
	}
	return body, "", nil
}

// readable are the columns a read returns: those written from the mapped
// record (not a version column filled from the event's version).
func (p *plan) readable() []column {
	var out []column
	for _, c := range p.cols {
		if !c.fromEv {
			out = append(out, c)
		}
	}
	return out
}

// keyColumns are the key columns, in sql.key's order.
func (p *plan) keyColumns() []column {
	out := make([]column, 0, len(p.keys))
	for _, k := range p.keys {
		for _, c := range p.cols {
			if c.name == k {
				out = append(out, c)
			}
		}
	}
	return out
}

// selectRow renders
//
//	SELECT to_jsonb(t."id"), to_jsonb(t."name") FROM "s"."t" AS t WHERE t."id" = $1
func (p *plan) selectRow() string {
	var sel, where []string
	for _, c := range p.readable() {
		sel = append(sel, "to_jsonb(t."+quote(c.name)+")::text")
	}
	for i, c := range p.keyColumns() {
		where = append(where, "t."+quote(c.name)+" = $"+strconv.Itoa(i+1))
	}
	return "SELECT " + strings.Join(sel, ", ") + " FROM " + p.table.Sanitize() + " AS t WHERE " + strings.Join(where, " AND ")
}
