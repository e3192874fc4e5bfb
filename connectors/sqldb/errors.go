package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hms/extsync/connectors"
)

// Error is a failed statement or connection, described from the server's
// error fields and the network cause, never from the DSN.
type Error struct {
	// Op says what failed: "connect", `upsert into "public"."t"`, ...
	Op string
	// SQLState is the server's error code (23502, 40001, ...); "" when the
	// failure was not reported by the server (network, timeout).
	SQLState string
	// Message is the server's message or the network cause.
	Message    string
	Constraint string
	Column     string
	// Item is the index in the batch of the row that failed, -1 when the
	// failure is not one row's (connection, commit, a missing table) or
	// the batch was a single Deliver.
	Item int
	// EventID identifies the event whose row failed, "" when the failure
	// is not one row's.
	EventID string

	err error // the driver's error, for errors.As; its text is not used
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	switch {
	case e.Item >= 0:
		fmt.Fprintf(&b, " (batch item %d, event %s)", e.Item, e.EventID)
	case e.EventID != "":
		fmt.Fprintf(&b, " (event %s)", e.EventID)
	}
	b.WriteString(": ")
	if e.SQLState != "" {
		b.WriteString("SQLSTATE " + e.SQLState + ": ")
	}
	b.WriteString(e.Message)
	var at []string
	if e.Constraint != "" {
		at = append(at, "constraint "+e.Constraint)
	}
	if e.Column != "" {
		at = append(at, "column "+e.Column)
	}
	if len(at) > 0 {
		b.WriteString(" (" + strings.Join(at, ", ") + ")")
	}
	return b.String()
}

// Unwrap gives errors.As access to *pgconn.PgError and network errors.
func (e *Error) Unwrap() error { return e.err }

// permanentClasses are SQLSTATE classes that say the row itself or the
// statement is wrong, so retrying the same event cannot succeed:
//
//	0A feature not supported      21 cardinality violation
//	22 data exception             23 integrity constraint violation
//	27 triggered data change      2F/38/39 routine (trigger) exceptions
//	42 syntax error or access rule (undefined table or column, ...)
//	44 WITH CHECK OPTION          54 program limit exceeded
//	P0 PL/pgSQL RAISE (a trigger refusing the row)
//
// Every other class is transient: 08 connection, 25 (a read-only standby
// after failover), 28 and 3D (authentication, missing database: fixed by
// an operator, not by the event), 40 serialization failure and deadlock,
// 53 insufficient resources, 55 lock not available, 57 operator
// intervention (query cancelled, shutdown), 58 and XX system errors.
var permanentClasses = map[string]bool{
	"0A": true, "21": true, "22": true, "23": true, "27": true, "2F": true,
	"38": true, "39": true, "42": true, "44": true, "54": true, "P0": true,
}

// classOf returns the class for a SQLSTATE.
func classOf(code string) connectors.Class {
	if len(code) != 5 {
		return connectors.Transient
	}
	if code == "40002" { // integrity constraint violation at commit
		return connectors.Permanent
	}
	if permanentClasses[code[:2]] {
		return connectors.Permanent
	}
	return connectors.Transient
}

// classify turns a driver error into a classified *connectors.DeliveryError
// whose message holds no secret. item is the batch index of the row being
// written (-1 if none or not a batch), eventID its event.
func (c *Connector) classify(op string, err error, item int, eventID string) error {
	e := &Error{Op: op, Item: -1}
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg):
		e.SQLState, e.Message = pg.Code, pg.Message
		e.Constraint, e.Column = pg.ConstraintName, pg.ColumnName
		e.err = pg
		// Only data and integrity errors are one row's fault; a missing
		// table fails the first row by chance.
		if cls := pg.Code[:min(2, len(pg.Code))]; cls == "22" || cls == "23" {
			e.Item, e.EventID = item, eventID
		}
		class := classOf(pg.Code)
		e.Message = c.redact(e.Message)
		return &connectors.DeliveryError{Class: class, Err: e}
	case errors.Is(err, context.Canceled):
		e.Message, e.err = "cancelled", context.Canceled
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		e.Message, e.err = fmt.Sprintf("timed out (timeout %s)", c.cfg.Timeout.D()), context.DeadlineExceeded
	default:
		cause := err
		var ce *pgconn.ConnectError
		if errors.As(err, &ce) {
			// ConnectError carries the whole parsed config, password
			// included; only its cause is kept.
			cause = ce.Unwrap()
			e.Op = "connect"
		}
		e.Message, e.err = c.redact(cause.Error()), cause
	}
	// Network failures, timeouts, cancellation, a connection closed under
	// us: nothing is wrong with the event.
	return connectors.TransientError(0, e)
}

// redact removes the DSN and its password from a message; the driver's
// messages do not contain them, this only makes sure.
func (c *Connector) redact(msg string) string {
	for _, s := range c.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

// rowError is a permanent failure of one delivery found before any I/O
// (a missing key or version, a value that cannot be encoded).
func rowError(op string, item int, eventID, format string, args ...any) error {
	e := &Error{Op: op, Item: item, EventID: eventID, Message: fmt.Sprintf(format, args...)}
	return connectors.PermanentError(0, e)
}
