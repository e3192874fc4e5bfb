package synclog

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// OutcomeAdmin marks the record of an operator's action.
const OutcomeAdmin = "admin"

// Audit records that actor did action (e.g. "dlq replay") on count events
// of connector, in that connector's sync log, so `extsync log` shows it
// beside the deliveries it caused.
func Audit(ctx context.Context, js jetstream.JetStream, connector, actor, action string, count int) error {
	return NewWriter(js).Append(ctx, &Record{
		Time: time.Now().UTC(), Connector: connector, Outcome: OutcomeAdmin,
		Actor: actor, Action: action, Count: count,
	})
}
