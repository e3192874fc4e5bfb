package broker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Iter reads a pull iterator's messages as it.Next() without options
// does, waiting as long as it takes, but in rounds of nextRound.
//
// The client decides whether to pull more only as Next starts, and skips
// that while it is still sending the previous pull request. A single Next
// that starts in that moment, with its buffer empty, then waits with no
// request on the server: nothing arrives until the missing heartbeats
// reset the client, 30 s later by default, however many messages wait.
// Starting Next again every round makes it ask as soon as it can.
//
// A round is a context shared by every Next in it, not a timer per call.
// One goroutine at a time calls Next.
type Iter struct {
	it     jetstream.MessagesContext
	round  context.Context
	cancel context.CancelFunc
}

// NewIter reads it in rounds.
func NewIter(it jetstream.MessagesContext) *Iter { return &Iter{it: it} }

// Next returns the next message, or the iterator's error: it ends with
// jetstream.ErrMsgIteratorClosed once stopped or drained.
func (i *Iter) Next() (jetstream.Msg, error) {
	for {
		if i.round == nil || i.round.Err() != nil {
			if i.cancel != nil {
				i.cancel()
			}
			i.round, i.cancel = context.WithTimeout(context.Background(), nextRound)
		}
		m, err := i.it.Next(jetstream.NextContext(i.round))
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			return m, err
		}
	}
}

// nextRound bounds how long a consumer can wait with messages on the
// server, and is how often an idle consumer wakes.
const nextRound = 250 * time.Millisecond
