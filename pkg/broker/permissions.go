package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// PermissionError is an operation NATS refused for lack of a permission:
// the server answers a publish or subscribe it does not allow with an
// asynchronous -ERR, and the operation itself only times out. Explain
// turns that time-out into this error, which names the subject.
type PermissionError struct {
	// Op is "publish" or "subscribe".
	Op string
	// Subject is the subject refused.
	Subject string
	// Err is the error the operation failed with (a time-out, mostly).
	Err error
}

func (e *PermissionError) Error() string {
	msg := fmt.Sprintf("permissions violation for %s to %q", e.Op, e.Subject)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the operation's own error and nats.ErrPermissionViolation.
func (e *PermissionError) Unwrap() []error {
	return []error{nats.ErrPermissionViolation, e.Err}
}

// violationRE reads the server's -ERR text, e.g.
// Permissions Violation for Publish to "$JS.API.STREAM.INFO.HMS_EVENTS"
// or ... for Subscription to "_INBOX.>".
var violationRE = regexp.MustCompile(`(?i)permissions violation for (publish|subscription) to "([^"]*)"`)

// lastViolation is the most recent refusal any connection of this process
// received: a process with a permission missing has one connection
// failing for it, and its first operation to fail is the one to explain.
var lastViolation atomic.Pointer[PermissionError]

// recordViolation keeps a refusal for Explain and logs it.
func recordViolation(log *slog.Logger, err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	pe := &PermissionError{Op: "publish", Subject: "?"}
	if m := violationRE.FindStringSubmatch(err.Error()); m != nil {
		pe.Subject = m[2]
		if strings.EqualFold(m[1], "subscription") {
			pe.Op = "subscribe"
		}
	}
	lastViolation.Store(pe)
	if log == nil {
		log = slog.Default()
	}
	log.Error("NATS refused an operation: "+pe.Error()+"; deploy/nats lists the permissions each user needs",
		"op", pe.Op, "subject", pe.Subject)
}

// Explain names the refused subject when err failed because NATS refused
// a permission (see PermissionError); any other err is returned as it is.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	var already *PermissionError
	if errors.As(err, &already) {
		return err
	}
	pe := lastViolation.Load()
	if pe == nil {
		return err
	}
	return &PermissionError{Op: pe.Op, Subject: pe.Subject, Err: err}
}

// errorHandler reports asynchronous errors: permission refusals (which
// Explain then attaches to the operation that failed) and slow consumers.
func errorHandler(log *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			recordViolation(log, err)
			return
		}
		if log == nil {
			log = slog.Default()
		}
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		log.Warn("NATS asynchronous error", "err", err, "subject", subject)
	}
}
