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
// Each Next also arms the client's own check for missing heartbeats (a
// pull request the server lost), which only fires in a Next that lasts
// twice the heartbeat. So once idleRounds rounds passed with nothing, the
// race above is over (it follows a message by moments) and Iter waits in
// one Next without end, the check armed, until the next message.
//
// A round is a context shared by every Next in it, not a timer per call.
// One goroutine at a time calls Next.
type Iter struct {
	it     jetstream.MessagesContext
	round  context.Context
	cancel context.CancelFunc
	empty  int // rounds ended in a row with no message
}

// NewIter reads it in rounds.
func NewIter(it jetstream.MessagesContext) *Iter { return &Iter{it: it} }

// Next returns the next message, or the iterator's error: it ends with
// jetstream.ErrMsgIteratorClosed once stopped or drained.
func (i *Iter) Next() (jetstream.Msg, error) {
	for i.empty < idleRounds {
		if i.round == nil || i.round.Err() != nil {
			if i.cancel != nil {
				i.cancel()
			}
			i.round, i.cancel = context.WithTimeout(context.Background(), nextRound)
		}
		m, err := i.it.Next(jetstream.NextContext(i.round))
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || i.round.Err() == nil { // not the round's end
			i.empty = 0
			return m, err
		}
		i.empty++
	}
	i.empty = 0
	return i.it.Next()
}

const (
	// nextRound bounds how long a consumer can wait with messages on
	// the server.
	nextRound = 250 * time.Millisecond
	// idleRounds in a row with nothing make a consumer idle: it waits in
	// one Next until a message comes.
	idleRounds = 4
)
