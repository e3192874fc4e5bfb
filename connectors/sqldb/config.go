package sqldb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
	"github.com/jackc/pgx/v5"

	"github.com/hms/extsync/pkg/config"
)

// DriverPGX is the only driver built in: the statement is PostgreSQL's
// INSERT ... ON CONFLICT, sent through database/sql with pgx's driver.
const DriverPGX = "pgx"

// Config is the connector's `sql:` block.
type Config struct {
	// Driver is the database/sql driver; only "pgx" (PostgreSQL).
	Driver string `yaml:"driver"`
	// DSN is a PostgreSQL URL or key=value string; usually "${DB_DSN}".
	// It may hold a password and never appears in an error.
	DSN string `yaml:"dsn"`
	// Table is "table" or "schema.table".
	Table string `yaml:"table"`
	// Key are the columns of the primary key or of a unique constraint:
	// the ON CONFLICT target. A key column not listed in Columns is
	// written from the mapped body's field of the same name.
	Key []string `yaml:"key"`
	// Columns are the columns written, each a name (value from the mapped
	// body's field of that name) or a one-entry map `column: path`.
	Columns []Column `yaml:"columns"`
	// VersionColumn, if set, makes the upsert conditional: a row is only
	// updated by an event of a higher version. Its value comes from the
	// column of that name in Columns, else from the event's entity version.
	VersionColumn string          `yaml:"version_column"`
	Timeout       config.Duration `yaml:"timeout"`
	// MaxOpenConns bounds the connection pool; default: the connector's
	// concurrency.
	MaxOpenConns int `yaml:"max_open_conns"`
}

// Column is one column written and where its value comes from.
type Column struct {
	Name string
	// Path is the dotted path of the value in the mapped body.
	Path string
}

// UnmarshalYAML reads `name` or `{name: path}`, keeping the position of a
// bad entry.
func (c *Column) UnmarshalYAML(n ast.Node) error {
	switch v := n.(type) {
	case *ast.StringNode:
		c.Name, c.Path = v.Value, v.Value
		return nil
	case *ast.MappingNode:
		if len(v.Values) == 1 {
			return c.fromPair(v.Values[0])
		}
	case *ast.MappingValueNode:
		return c.fromPair(v)
	}
	return errAt(n, "a column is a name or a one-entry map `column: path`")
}

func (c *Column) fromPair(kv *ast.MappingValueNode) error {
	name, ok := kv.Key.(*ast.StringNode)
	if !ok {
		return errAt(kv, "a column is a name or a one-entry map `column: path`")
	}
	path, ok := kv.Value.(*ast.StringNode)
	if !ok || path.Value == "" {
		return errAt(kv.Value, "column %q: the path must be a dotted field path such as hearing.room", name.Value)
	}
	c.Name, c.Path = name.Value, path.Value
	return nil
}

// tokenError keeps the position of a bad value through goccy's decoder,
// which config turns into file:line and field.
type tokenError struct {
	tok *token.Token
	msg string
}

func (e *tokenError) Error() string          { return e.msg }
func (e *tokenError) GetToken() *token.Token { return e.tok }
func (e *tokenError) GetMessage() string     { return e.msg }

func errAt(n ast.Node, format string, args ...any) error {
	return &tokenError{tok: n.GetToken(), msg: fmt.Sprintf(format, args...)}
}

var (
	// identRE is one unquoted SQL identifier; quoting makes it exact
	// (case-sensitive), so nothing that would need quoting is accepted.
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)
	pathRE  = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)
)

// maxIdent is PostgreSQL's identifier length (NAMEDATALEN-1); longer names
// are silently truncated by the server, so they are refused here.
const maxIdent = 63

func (c *Config) setDefaults(concurrency int) {
	if c.Driver == "" {
		c.Driver = DriverPGX
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(10 * time.Second)
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = max(concurrency, 1)
	}
}

// validate checks the block and returns the table name split in its parts
// and the parsed DSN. Messages never echo the DSN: it may hold a password.
func (c *Config) validate() (pgx.Identifier, *pgx.ConnConfig, error) {
	if c.Driver != DriverPGX {
		return nil, nil, fmt.Errorf("sql.driver %q: only %q (PostgreSQL) is supported", c.Driver, DriverPGX)
	}
	if strings.TrimSpace(c.DSN) == "" {
		return nil, nil, errors.New(`sql.dsn is required (e.g. dsn: "${DB_DSN}")`)
	}
	conn, err := pgx.ParseConfig(c.DSN)
	if err != nil {
		// pgx's message quotes the string (redacted on a best-effort
		// basis only), so none of it is repeated.
		return nil, nil, errors.New("sql.dsn is not a valid PostgreSQL connection string " +
			"(want postgres://user:password@host:5432/db?sslmode=... or host=... user=... dbname=...)")
	}
	if !tableRE.MatchString(c.Table) {
		return nil, nil, fmt.Errorf("sql.table %q: want table or schema.table, letters, digits and _ only", c.Table)
	}
	table := pgx.Identifier(strings.Split(c.Table, "."))
	for _, part := range table {
		if len(part) > maxIdent {
			return nil, nil, fmt.Errorf("sql.table %q: %q is longer than %d characters", c.Table, part, maxIdent)
		}
	}
	if len(c.Key) == 0 {
		return nil, nil, errors.New("sql.key is required: the columns of the table's primary key or of a unique constraint")
	}
	if len(c.Columns) == 0 {
		return nil, nil, errors.New("sql.columns is required: the columns to write")
	}
	seen := map[string]bool{}
	for i, col := range c.Columns {
		if err := checkIdent(fmt.Sprintf("sql.columns[%d]", i), col.Name); err != nil {
			return nil, nil, err
		}
		if seen[col.Name] {
			return nil, nil, fmt.Errorf("sql.columns: %q is listed twice", col.Name)
		}
		seen[col.Name] = true
		if !pathRE.MatchString(col.Path) {
			return nil, nil, fmt.Errorf("sql.columns[%d]: %q is not a dotted field path", i, col.Path)
		}
	}
	keys := map[string]bool{}
	for i, k := range c.Key {
		if err := checkIdent(fmt.Sprintf("sql.key[%d]", i), k); err != nil {
			return nil, nil, err
		}
		if keys[k] {
			return nil, nil, fmt.Errorf("sql.key: %q is listed twice", k)
		}
		keys[k] = true
	}
	if v := c.VersionColumn; v != "" {
		if err := checkIdent("sql.version_column", v); err != nil {
			return nil, nil, err
		}
		if keys[v] {
			return nil, nil, fmt.Errorf("sql.version_column %q is a key column; a version cannot identify the row", v)
		}
	}
	if c.MaxOpenConns < 0 {
		return nil, nil, fmt.Errorf("sql.max_open_conns %d: want 1 or more", c.MaxOpenConns)
	}
	return table, conn, nil
}

func checkIdent(field, name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%s %q: want a column name of letters, digits and _, not starting with a digit", field, name)
	}
	if len(name) > maxIdent {
		return fmt.Errorf("%s %q is longer than %d characters", field, name, maxIdent)
	}
	return nil
}
