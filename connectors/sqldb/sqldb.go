package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/telemetry"
)

// Kind is the connectors-file kind this package serves.
const Kind = "sql"

var tracer = otel.Tracer("github.com/hms/extsync/connectors/sqldb")

// Factory builds sql connectors.
type Factory struct{}

// Kind implements connectors.Factory.
func (Factory) Kind() string { return Kind }

// New implements connectors.Factory. It parses the DSN and builds the
// statement but does no I/O: the pool connects on the first delivery.
func (Factory) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults(spec.Concurrency)
	table, conn, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if _, ok := conn.RuntimeParams["application_name"]; !ok {
		conn.RuntimeParams["application_name"] = "extsync-" + spec.Name
	}
	db := stdlib.OpenDB(*conn)
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)   // keep one per worker: no reconnect per event
	db.SetConnMaxIdleTime(5 * time.Minute) // but give a quiet legacy database its slots back
	db.SetConnMaxLifetime(time.Hour)       // and follow a failover or DNS change eventually

	c := &Connector{
		name:  spec.Name,
		cfg:   cfg,
		plan:  newPlan(&cfg, table),
		db:    db,
		attrs: spanAttrs(spec.Name, table, conn),
	}
	c.secrets = secrets(cfg.DSN, conn.Password)
	c.op = "upsert into " + table.Sanitize()
	c.read = "read from " + table.Sanitize()
	return c, nil
}

// secrets lists the strings scrubbed from error messages: the DSN and
// the password in its plain and escaped forms. A password shorter than 4
// characters is left out: replacing it would garble every message.
func secrets(dsn, password string) []string {
	out := []string{dsn}
	pws := []string{password}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			pws = append(pws, pw)
		}
	}
	for _, pw := range pws {
		for _, s := range []string{pw, url.QueryEscape(pw), url.PathEscape(pw)} {
			if len(s) >= 4 && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func spanAttrs(name string, table pgx.Identifier, conn *pgx.ConnConfig) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("db.system.name", "postgresql"),
		attribute.String("db.namespace", conn.Database),
		attribute.String("db.collection.name", table.Sanitize()),
		attribute.String("db.operation.name", "INSERT"),
		attribute.String("server.address", conn.Host),
		attribute.Int("server.port", int(conn.Port)),
		telemetry.Connector.String(name),
	}
}

// Connector upserts mapped events as rows of one table.
type Connector struct {
	name    string
	cfg     Config
	plan    *plan
	db      *sql.DB
	op      string
	read    string // what a Fetch is called in errors
	attrs   []attribute.KeyValue
	secrets []string // the DSN and its password, scrubbed from messages
}

var _ connectors.BatchConnector = (*Connector)(nil)

// Outcome is what an upsert did to its row.
type Outcome int

const (
	// Applied means the row was inserted or updated.
	Applied Outcome = iota + 1
	// Stale means the table already holds this version of the entity or
	// a newer one, so nothing was written. It is a success: the event is
	// superseded (or was applied by an earlier attempt), and the pipeline
	// acks it; a sync log that can tell the two apart records `superseded`.
	Stale
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Stale:
		return "stale"
	}
	return "unknown"
}

// Timeout implements connectors.Connector: the longest one Deliver or
// DeliverBatch may take, connecting included.
func (c *Connector) Timeout() time.Duration { return c.cfg.Timeout.D() }

// Close implements connectors.Connector.
func (c *Connector) Close() error { return c.db.Close() }

// Deliver implements connectors.Connector: a batch of one, a single
// statement in its own (implicit) transaction. A row left alone because it
// already holds a newer version is a success: see Stale.
func (c *Connector) Deliver(ctx context.Context, d *connectors.Delivery) error {
	_, err := c.Upsert(ctx, []*connectors.Delivery{d})
	return err
}

// Delete implements connectors.Deleter: DELETE of the entity's row by
// its key columns (see plan.buildDelete); a row already gone is a
// success. A batch deletes its deletions' rows in its transaction.
func (c *Connector) Delete(ctx context.Context, d *connectors.Delivery) error {
	return c.Deliver(ctx, d)
}

// DeliverBatch implements connectors.BatchConnector: every row in one
// transaction, all or nothing. When one row is refused the whole batch is
// rolled back and the error (a *DeliveryError wrapping an *Error whose
// Item names the row) is that row's: permanent for a constraint or data
// error, transient for a lost connection or a deadlock.
func (c *Connector) DeliverBatch(ctx context.Context, ds []*connectors.Delivery) error {
	_, err := c.Upsert(ctx, ds)
	return err
}

// Upsert writes ds in order, in one transaction when there are several,
// and reports what happened to each row. Later rows of the batch see the
// earlier ones, so two versions of one entity in a batch end as the
// newer.
func (c *Connector) Upsert(ctx context.Context, ds []*connectors.Delivery) (outcomes []Outcome, err error) {
	if len(ds) == 0 {
		return nil, nil
	}
	stmts := make([]string, len(ds))
	args := make([][]any, len(ds))
	for i, d := range ds {
		item := i
		if len(ds) == 1 {
			item = -1 // a Deliver, not a batch
		}
		if stmts[i], args[i], err = c.row(item, d); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	ctx, span := tracer.Start(ctx, "INSERT "+c.cfg.Table, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(c.attrs...), trace.WithAttributes(attribute.Int("db.operation.batch.size", len(ds))))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(telemetry.ErrorType.String(connectors.Classify(err).String()))
		}
		span.End()
	}()

	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, c.classify("connect", err, -1, "")
	}
	defer conn.Close()
	err = conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		if len(ds) == 1 {
			outcomes, err = c.exec(ctx, pc, ds[0], stmts[0], args[0])
		} else {
			outcomes, err = c.execBatch(ctx, pc, ds, stmts, args)
		}
		return err
	})
	return outcomes, err
}

// row returns the statement and arguments for one delivery. Every value
// is a bound parameter; scalars go as text, which the server parses as the
// column's type (so "2026-05-01T09:00:00Z" fills a timestamptz and a JSON
// number keeps every digit), objects and arrays as JSON text.
func (c *Connector) row(i int, d *connectors.Delivery) (string, []any, error) {
	if d.Delete {
		return c.deleteRow(i, d)
	}
	cols := c.plan.cols
	present := make([]bool, len(cols))
	args := make([]any, 0, len(cols))
	id := eventID(d)
	for j, col := range cols {
		p, ok, err := c.value(i, id, col, d)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		present[j] = true
		args = append(args, p)
	}
	return c.plan.statement(present), args, nil
}

// deleteRow is the statement and arguments deleting d's entity: its key
// columns' values, and the version's under a version column.
func (c *Connector) deleteRow(i int, d *connectors.Delivery) (string, []any, error) {
	id := eventID(d)
	args := make([]any, 0, len(c.plan.delCols))
	for _, j := range c.plan.delCols {
		p, _, err := c.value(i, id, c.plan.cols[j], d)
		if err != nil {
			return "", nil, err
		}
		args = append(args, p)
	}
	return c.plan.del, args, nil
}

// value is col's parameter from d; ok false when d has none for a column
// that may be left out. A key or version column must have a value.
func (c *Connector) value(i int, id string, col column, d *connectors.Delivery) (any, bool, error) {
	var v any
	var ok bool
	if col.fromEv {
		if d.Event != nil && d.Event.Version != "" {
			v, ok = d.Event.Version, true
		}
	} else {
		v, ok = event.Lookup(d.Body, col.path)
	}
	if (col.key || col.ver) && (!ok || v == nil) {
		what := "key column"
		if col.ver {
			what = "version column"
		}
		src := "field " + strconv.Quote(col.path)
		if col.fromEv {
			src = "entity version"
		}
		return nil, false, rowError(c.op, i, id, "the event has no %s for %s %s", src, what, quote(col.name))
	}
	if !ok {
		return nil, false, nil
	}
	p, err := param(v)
	if err != nil {
		return nil, false, rowError(c.op, i, id, "column %s: %v", quote(col.name), err)
	}
	return p, true, nil
}

func eventID(d *connectors.Delivery) string {
	if d.Event == nil {
		return ""
	}
	return d.Event.ID
}

// param converts a mapped value to a bound parameter.
func param(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case []byte:
		return x, nil // bytea
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode %T as JSON: %v", v, err)
	}
	return string(b), nil
}

func (c *Connector) exec(ctx context.Context, pc *pgx.Conn, d *connectors.Delivery, stmt string, args []any) ([]Outcome, error) {
	tag, err := pc.Exec(ctx, stmt, args...)
	if err != nil {
		return nil, c.classify(c.op, err, -1, eventID(d))
	}
	return []Outcome{c.outcome(tag.RowsAffected())}, nil
}

// execBatch sends BEGIN, every row and reads the results in one round trip
// (pgx pipelines a batch), then commits. The first failing row ends it:
// the transaction is rolled back and that row's error returned.
func (c *Connector) execBatch(ctx context.Context, pc *pgx.Conn, ds []*connectors.Delivery, stmts []string, args [][]any) ([]Outcome, error) {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	for i := range ds {
		b.Queue(stmts[i], args[i]...)
	}
	br := pc.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit; on failure pgx drops the connection

	fail := func(i int, err error) ([]Outcome, error) {
		_ = br.Close()
		if i < 0 {
			return nil, c.classify(c.op, err, -1, "")
		}
		return nil, c.classify(c.op, err, i, eventID(ds[i]))
	}
	if _, err := br.Exec(); err != nil { // BEGIN, or preparing the statements
		return fail(-1, err)
	}
	outcomes := make([]Outcome, len(ds))
	for i := range ds {
		tag, err := br.Exec()
		if err != nil {
			return fail(i, err)
		}
		outcomes[i] = c.outcome(tag.RowsAffected())
	}
	if err := br.Close(); err != nil {
		return fail(-1, err)
	}
	if err := tx.Commit(ctx); err != nil {
		// Deferred constraints fail here; so does a connection lost just
		// before COMMIT, and then whether it committed is unknown: a
		// retry is harmless (the upsert is idempotent), so transient.
		return fail(-1, err)
	}
	return outcomes, nil
}

// outcome reads INSERT's row count: ON CONFLICT ... DO UPDATE ... WHERE
// counts a row only when it inserted or updated it. Without a version
// column a count of 0 can only be ON CONFLICT DO NOTHING (every column is
// a key column): the row is there, as asked.
func (c *Connector) outcome(rows int64) Outcome {
	if rows == 0 && c.plan.version != "" {
		return Stale
	}
	return Applied
}
