package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/deadletter"
)

// Sending is what Send sends and how.
type Sending struct {
	Connector string
	Query     Query
	// Repair, when set, marks each event as a repair named Repair
	// (deadletter.HeaderRepair): the pipeline lets the version through
	// although it was delivered, and does not skip it as unchanged. A
	// seed leaves it empty: nothing was delivered yet.
	Repair string
	// Actor is who asked (deadletter.HeaderReplayedBy), for the sync log.
	Actor string
	// Every paces the sends; 0: as fast as the replay stream takes them.
	Every time.Duration
	// Skip, if set, leaves out the entries it returns true for; they
	// are counted in Entities, not in Sent.
	Skip func(Entry) bool
	// DryRun counts what would be sent and sends nothing.
	DryRun bool
	// Progress, if set, is told how many entries were handled so far.
	Progress func(done int)
}

// Sent is what Send did.
type Sent struct {
	Entities int // entries read
	Sent     int // published (0 for a dry run)
}

const window = 256 // publishes in flight before awaiting them

// Send publishes the selected entries to the connector's replay subject,
// which its pipeline delivers as any event (mapping, ordering, conflict
// rules, sync log, dead letters), with the event's own subject and stream
// sequence, so ordering compares it with the versions already sent.
func Send(ctx context.Context, js jetstream.JetStream, s Sending) (Sent, error) {
	var res Sent
	var pace <-chan time.Time
	if s.Every > 0 {
		t := time.NewTicker(s.Every)
		defer t.Stop()
		pace = t.C
	}
	var pending []jetstream.PubAckFuture
	flush := func() error {
		err := await(ctx, pending)
		pending = pending[:0]
		return err
	}
	err := Each(ctx, js, s.Query, func(e Entry) error {
		res.Entities++
		if s.DryRun || s.Skip != nil && s.Skip(e) {
			s.progress(res.Entities)
			return nil
		}
		if pace != nil && res.Entities > 1 {
			select {
			case <-pace:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		f, err := js.PublishMsgAsync(s.msg(e), jetstream.WithMsgID(s.msgID(e)))
		if err != nil {
			return fmt.Errorf("publish to %s: %w", deadletter.ReplaySubjectPrefix+s.Connector, err)
		}
		pending = append(pending, f)
		res.Sent++
		if len(pending) >= window {
			if err := flush(); err != nil {
				return err
			}
		}
		s.progress(res.Entities)
		return nil
	})
	err = errors.Join(err, flush())
	if err != nil {
		return res, fmt.Errorf("connector %q: send the snapshot: %w", s.Connector, err)
	}
	return res, nil
}

func (s Sending) progress(n int) {
	if s.Progress != nil {
		s.Progress(n)
	}
}

// msgID dedupes one send of an entry: a repeat within the replay
// stream's duplicate window (a seed retried after a crash, the same
// resync run twice) is dropped.
func (s Sending) msgID(e Entry) string {
	run := s.Repair
	if run == "" {
		run = "seed"
	}
	return "snapshot:" + s.Connector + ":" + strconv.FormatUint(e.Seq, 10) + ":" + run
}

func (s Sending) msg(e Entry) *nats.Msg {
	m := nats.NewMsg(deadletter.ReplaySubjectPrefix + s.Connector)
	m.Data = e.Data
	for k, v := range e.Header {
		m.Header[k] = v
	}
	if s.Repair != "" {
		m.Header.Set(deadletter.HeaderRepair, s.Repair)
	}
	if s.Actor != "" {
		m.Header.Set(deadletter.HeaderReplayedBy, s.Actor)
	}
	return m
}

func await(ctx context.Context, fs []jetstream.PubAckFuture) error {
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("replay not stored: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("replay not confirmed: %w", ctx.Err())
		}
	}
	return nil
}
