package connectors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Class says what the pipeline should do with a failed delivery.
type Class int

const (
	// Transient failures are retried with backoff until attempts run out.
	Transient Class = iota + 1
	// Conflict means the external system holds a competing change; the
	// connector's conflict rule decides.
	Conflict
	// Permanent failures are dead-lettered at once: retrying cannot help.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Conflict:
		return "conflict"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Sentinels for errors.Is; a *DeliveryError matches the one of its class.
var (
	ErrTransient = errors.New("transient delivery failure")
	ErrConflict  = errors.New("conflicting change in the external system")
	ErrPermanent = errors.New("permanent delivery failure")
)

// DeliveryError is what a connector returns when a delivery fails.
type DeliveryError struct {
	Class Class
	// Status is the external system's status code (HTTP status), 0 if none.
	Status int
	// RetryAfter is the wait the external system asked for, 0 if none.
	RetryAfter time.Duration
	// Err says what went wrong; it must never hold a secret.
	Err error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (status %d): %v", e.Class, e.Status, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Class, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrPermanent) and friends match by class.
func (e *DeliveryError) Is(target error) bool {
	switch target {
	case ErrTransient:
		return e.Class == Transient
	case ErrConflict:
		return e.Class == Conflict
	case ErrPermanent:
		return e.Class == Permanent
	}
	return false
}

// TransientError wraps err as a transient failure.
func TransientError(status int, err error) *DeliveryError {
	return &DeliveryError{Class: Transient, Status: status, Err: err}
}

// PermanentError wraps err as a permanent failure.
func PermanentError(status int, err error) *DeliveryError {
	return &DeliveryError{Class: Permanent, Status: status, Err: err}
}

// ConflictError wraps err as a conflict.
func ConflictError(status int, err error) *DeliveryError {
	return &DeliveryError{Class: Conflict, Status: status, Err: err}
}

// Classify returns the class of err. An error no connector classified is
// treated as transient: a retry is safe (deliveries are idempotent) and the
// attempt limit still ends it in the dead-letter stream.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Class
	}
	if untrusted(err) {
		return Permanent
	}
	return Transient
}

// untrusted reports a TLS certificate that does not verify: retrying
// cannot help until someone fixes the certificate or the trusted CAs, so
// the event is parked at once with the reason, for a replay after the fix.
func untrusted(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &he)
}

// AsDeliveryError returns err as a *DeliveryError, classifying it if needed.
func AsDeliveryError(err error) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &DeliveryError{Class: Classify(err), Err: err}
}

// IsNetwork reports whether err is a network-level failure or a timeout,
// which every connector treats as transient.
func IsNetwork(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
