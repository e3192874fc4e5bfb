package policy

import (
	"errors"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// Action is what to do with the message.
type Action int

const (
	// Ack confirms the message: delivered, or deliberately skipped.
	Ack Action = iota + 1
	// Retry redelivers the message after Decision.Delay.
	Retry
	// DeadLetter parks the message in EXTSYNC_DLQ, then acks it.
	DeadLetter
	// Hold records the attempt and keeps the message: a batch waiting to
	// be sent again as one unit.
	Hold
	// HandBack returns the message to JetStream at once, with no record:
	// an attempt that could not run because the instance is stopping.
	HandBack
)

// Outcomes as written to the sync log.
const (
	OutcomeDelivered       = "delivered"
	OutcomeRetry           = "retry"
	OutcomeDeadLettered    = "dead-lettered"
	OutcomeConflictSkipped = "conflict-skipped"
	// OutcomeSuperseded: a newer version of the entity was sent instead.
	OutcomeSuperseded = "superseded"
	// OutcomeConflictParked: the conflict waits on EXTSYNC_CONFLICTS.
	OutcomeConflictParked = "conflict-parked"
	// OutcomeUnchanged: the system already holds this record.
	OutcomeUnchanged = "unchanged"
)

// Outcomes lists every outcome an attempt's record can have, for tools
// that filter on them; keep it in step with the constants above.
var Outcomes = []string{OutcomeDelivered, OutcomeRetry, OutcomeDeadLettered, OutcomeConflictSkipped,
	OutcomeSuperseded, OutcomeConflictParked}

// Statuses of a dead letter (Extsync-Status).
const (
	StatusPermanent = "permanent"
	StatusExhausted = "exhausted"
)

// Decision is the policy's verdict on one attempt.
type Decision struct {
	Action  Action
	Delay   time.Duration
	Outcome string
	// Status says why a message was dead-lettered: permanent or exhausted.
	Status string
}

// Policy decides for one connector.
type Policy struct {
	Backoff     Backoff
	MaxAttempts int
	Conflict    string
}

// FromConfig builds a connector's policy.
func FromConfig(c *config.Connector) Policy {
	r := c.Retry
	return Policy{
		Backoff:     Backoff{Initial: r.Initial.D(), Max: r.Max.D(), Multiplier: r.Multiplier, Jitter: r.Jitter},
		MaxAttempts: r.MaxAttempts,
		Conflict:    c.Conflict.Strategy,
	}
}

// Decide maps attempt number attempt (from 1) and its error to an action.
// Skipping an event on purpose is an outcome too: a stale version
// (reconcile.ErrSuperseded), a conflict parked for a person
// (reconcile.ErrConflictParked) and a record the system already holds
// (reconcile.ErrUnchanged) are acked with their own outcome.
func (p Policy) Decide(err error, attempt int) Decision {
	switch {
	case err == nil:
		return Decision{Action: Ack, Outcome: OutcomeDelivered}
	case errors.Is(err, reconcile.ErrSuperseded):
		return Decision{Action: Ack, Outcome: OutcomeSuperseded}
	case errors.Is(err, reconcile.ErrConflictParked):
		return Decision{Action: Ack, Outcome: OutcomeConflictParked}
	case errors.Is(err, reconcile.ErrUnchanged):
		return Decision{Action: Ack, Outcome: OutcomeUnchanged}
	}
	de := connectors.AsDeliveryError(err)
	switch de.Class {
	case connectors.Permanent:
		return Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusPermanent}
	case connectors.Conflict:
		if p.Conflict == config.ConflictRemoteWins {
			return Decision{Action: Ack, Outcome: OutcomeConflictSkipped}
		}
	}
	if attempt >= p.MaxAttempts {
		return Decision{Action: DeadLetter, Outcome: OutcomeDeadLettered, Status: StatusExhausted}
	}
	// The system's own Retry-After wins when it asks for longer.
	delay := max(p.Backoff.Delay(attempt), de.RetryAfter)
	return Decision{Action: Retry, Delay: delay, Outcome: OutcomeRetry}
}

// DecideBatch is Decide for a batch sent as one unit. A batch is sent
// again in-process while its messages are kept alive, so a retry holds
// them (Hold) instead of handing them back to JetStream; a shutdown
// before the next try hands them back instead (handBack).
func (p Policy) DecideBatch(err error, attempt int, shuttingDown bool) Decision {
	d := p.Decide(err, attempt)
	if d.Action != Retry {
		return d
	}
	if shuttingDown {
		return Decision{Action: HandBack, Outcome: OutcomeRetry}
	}
	return Decision{Action: Hold, Outcome: OutcomeRetry, Delay: d.Delay}
}

// ErrBreakerOpen is returned, as a transient failure, while the circuit
// breaker keeps a failing system from being called.
var ErrBreakerOpen = errors.New("circuit breaker open: the external system is failing, calls are paused")
