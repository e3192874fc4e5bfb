package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// The replay stream: a dead letter sent back goes to
// extsync.replay.<connector>, which only that connector consumes, so a
// replay never reaches the other connectors of the event's subject.
const (
	ReplayStream        = "EXTSYNC_REPLAY"
	ReplaySubjectPrefix = "extsync.replay."
	// HeaderReplayOf is the dead letter's sequence in EXTSYNC_DLQ.
	HeaderReplayOf = "Extsync-Replay-Of"
	// HeaderReplayMapping is "original" when the replay must use the
	// mapping the event was first sent with (HeaderMappingVersion) rather
	// than the connector's current one.
	HeaderReplayMapping = "Extsync-Replay-Mapping"
)

// Mapping choices of a replay.
const (
	MappingCurrent  = "current"
	MappingOriginal = "original"
)

// ReplayStreamConfig is a work queue: a replayed event is gone from it
// once its connector settled it (delivered, or parked again).
func ReplayStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ReplayStream,
		Description: "extsync replays: dead letters sent back to their connector",
		Subjects:    []string{ReplaySubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Duplicates:  2 * time.Minute,
		Replicas:    max(replicas, 1),
	}
}

// ReplayItem is one dead letter to send back.
type ReplayItem struct {
	Seq       uint64 // in EXTSYNC_DLQ
	Connector string
	Header    nats.Header
	Body      []byte
	// Mapping is MappingOriginal or MappingCurrent (the default).
	Mapping string
}

// Replayer sends dead letters back through their connector.
type Replayer struct {
	js jetstream.JetStream
	// Every paces the sends (0: as fast as the stream takes them).
	Every time.Duration
	// Progress, if set, is told after each dead letter is done.
	Progress func(done, total int)
}

// NewReplayer returns a replayer on js.
func NewReplayer(js jetstream.JetStream) *Replayer { return &Replayer{js: js} }

// Replay publishes each item to its connector's replay subject, and
// removes the dead letter only once JetStream has stored the replay. The
// publishes are pipelined (async, then awaited in order), so 100k dead
// letters go at stream speed. It returns how many were replayed; on error
// the rest stay parked, untouched.
func (r *Replayer) Replay(ctx context.Context, items []ReplayItem) (int, error) {
	dlq, err := r.js.Stream(ctx, Stream)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	const window = 256 // publishes in flight before awaiting the oldest
	pending := make([]pendingReplay, 0, window)
	done := 0
	var tick <-chan time.Time
	if r.Every > 0 {
		t := time.NewTicker(r.Every)
		defer t.Stop()
		tick = t.C
	}
	for i, it := range items {
		if tick != nil && i > 0 {
			select {
			case <-tick:
			case <-ctx.Done():
				return done, ctx.Err()
			}
		}
		f, err := r.js.PublishMsgAsync(replayMsg(it), jetstream.WithMsgID(
			"replay:"+it.Connector+":"+strconv.FormatUint(it.Seq, 10)))
		if err != nil {
			return done, fmt.Errorf("replay dead letter %d: %w", it.Seq, err)
		}
		pending = append(pending, pendingReplay{it.Seq, f})
		if len(pending) == window || i == len(items)-1 {
			n, err := r.settle(ctx, dlq, pending)
			done += n
			r.report(done, len(items))
			if err != nil {
				return done, err
			}
			pending = pending[:0]
		}
	}
	return done, nil
}

type pendingReplay struct {
	seq uint64
	ack jetstream.PubAckFuture
}

// settle awaits each replay's PubAck, then deletes its dead letter. The
// deletes are API round trips, so several go at once: one after another
// they, not the stream, set the pace of a large replay.
func (r *Replayer) settle(ctx context.Context, dlq jetstream.Stream, pending []pendingReplay) (int, error) {
	stored := make([]uint64, 0, len(pending))
	var firstErr error
await:
	for _, p := range pending {
		select {
		case <-p.ack.Ok():
			stored = append(stored, p.seq)
		case err := <-p.ack.Err():
			firstErr = fmt.Errorf("replay dead letter %d not stored, left parked: %w", p.seq, err)
			break await
		case <-ctx.Done():
			firstErr = ctx.Err()
			break await
		}
	}
	var g errgroup.Group
	g.SetLimit(32)
	var removed atomic.Int64
	for _, seq := range stored {
		g.Go(func() error {
			if err := dlq.DeleteMsg(ctx, seq); err != nil && !isGone(err) {
				return fmt.Errorf("dead letter %d replayed but not removed (still listed; replaying it again is harmless): %w", seq, err)
			}
			removed.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return int(removed.Load()), err
	}
	return len(stored), firstErr
}

func (r *Replayer) report(done, total int) {
	if r.Progress != nil {
		r.Progress(done, total)
	}
}

func replayMsg(it ReplayItem) *nats.Msg {
	m := nats.NewMsg(ReplaySubjectPrefix + it.Connector)
	m.Data = it.Body
	for k, v := range it.Header {
		m.Header[k] = v
	}
	m.Header.Set(HeaderReplayOf, strconv.FormatUint(it.Seq, 10))
	if it.Mapping == MappingOriginal {
		m.Header.Set(HeaderReplayMapping, MappingOriginal)
	}
	return m
}

// isGone: a dead letter already deleted (by an earlier, interrupted
// replay) is what we wanted.
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful)
}
