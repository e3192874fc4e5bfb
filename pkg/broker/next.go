package broker

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Next returns the iterator's next message, waiting as long as it takes, like
// it.Next() without options, but asking in rounds of nextRound.
//
// The client decides whether to pull more only as Next starts, and skips
// that while it is still sending the previous pull request. A single Next
// that starts in that moment, with the buffer empty, then waits with no
// request on the server: nothing arrives until the missing heartbeats
// reset the client, 30 s later by default, however many messages wait.
// Starting Next again every round makes it ask as soon as it can.
func Next(it jetstream.MessagesContext) (jetstream.Msg, error) {
	for {
		m, err := it.Next(jetstream.NextMaxWait(nextRound))
		if !errors.Is(err, nats.ErrTimeout) {
			return m, err
		}
	}
}

// nextRound bounds how long a consumer can wait with messages on the
// server, and is how often an idle consumer wakes.
const nextRound = 250 * time.Millisecond
