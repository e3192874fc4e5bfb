package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	// HeaderReplayedBy names who asked for the replay (cli:user@host, or
	// the admin API's caller), for the sync log.
	HeaderReplayedBy = "Extsync-Replayed-By"
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
	// Progress, if set, is told after each window of dead letters is done.
	Progress func(done, total int)
	// Published, if set, is told once before the first send (0 of total)
	// and after each replay is published, before JetStream confirms it
	// (Progress follows per window): how many were published, of total.
	// A progress page reads it; a paced window can last seconds.
	Published func(published, total int)
	// Actor names who asked; each replay carries it (HeaderReplayedBy) so
	// the sync log says who sent the event again.
	Actor string
	// Prefix says the items are, per connector, every dead letter from the
	// first up to the last (a selection by connector and until, nothing
	// else), so each window's letters go with one purge per connector.
	Prefix bool
	// Selected is when the items were read from EXTSYNC_DLQ (zero: now).
	Selected time.Time
}

// NewReplayer returns a replayer on js.
func NewReplayer(js jetstream.JetStream) *Replayer { return &Replayer{js: js} }

// Result is what a replay did.
type Result struct {
	// Replayed counts, by connector, the dead letters this replay sent.
	Replayed map[string]int
	// Gone counts those another replay or purge took first: that one sent
	// them, or meant them gone; this one did not send them again.
	Gone int
}

// Sent is how many dead letters this replay sent.
func (r Result) Sent() int {
	n := 0
	for _, c := range r.Replayed {
		n += c
	}
	return n
}

// Two replays of one dead letter must not both reach its connector. The
// replay stream drops a second replay with the same message id within its
// 2-minute duplicate window; beyond it, the dead letter's absence is the
// guard, since a replay removes each letter within a window of sending it.
// So a selection older than freshFor is checked, window by window, against
// EXTSYNC_DLQ before it is sent, and a paced window lasts at most
// maxWindowTime: two sends of one letter are always within the duplicate
// window of each other.
const (
	freshFor      = 30 * time.Second
	maxWindowTime = 5 * time.Second
	maxWindow     = 256 // publishes in flight before awaiting them
)

// Replay sends items and returns how many it sent; see Run.
func (r *Replayer) Replay(ctx context.Context, items []ReplayItem) (int, error) {
	res, err := r.Run(ctx, items)
	return res.Sent(), err
}

// Run publishes each item to its connector's replay subject and removes
// the dead letter only once JetStream has stored the replay. Publishes
// are pipelined (a window in flight, then awaited in order), so a large
// backlog goes at stream speed. On error or when ctx ends, what was sent is
// still settled and the rest stay parked, untouched.
func (r *Replayer) Run(ctx context.Context, items []ReplayItem) (Result, error) {
	res := Result{Replayed: map[string]int{}}
	dlq, err := r.js.Stream(ctx, Stream)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	selected := r.Selected
	if selected.IsZero() {
		selected = time.Now()
	}
	w := &sender{r: r, dlq: dlq, res: &res, total: len(items)}
	w.published(0)
	if r.Every > 0 {
		t := time.NewTicker(r.Every)
		defer t.Stop()
		w.pace = t.C
	}
	size := r.windowSize()
	for start := 0; start < len(items); start += size {
		chunk := items[start:min(start+size, len(items))]
		if time.Since(selected) > freshFor {
			kept, gone, err := stillParked(ctx, dlq, chunk)
			if err != nil {
				return res, fmt.Errorf("replay: check the dead letters are still parked: %w", err)
			}
			chunk, res.Gone = kept, res.Gone+gone
		}
		if err := w.send(ctx, chunk); err != nil {
			return res, err
		}
		r.report(min(start+size, len(items)), len(items))
	}
	return res, nil
}

func (r *Replayer) windowSize() int {
	if r.Every <= 0 {
		return maxWindow
	}
	return max(1, min(maxWindow, int(maxWindowTime/r.Every)))
}

// sender sends the replays window by window, settling each.
type sender struct {
	r       *Replayer
	dlq     jetstream.Stream
	res     *Result
	pace    <-chan time.Time
	started bool
	sent    int // published so far
	total   int
}

func (w *sender) published(n int) {
	w.sent += n
	if w.r.Published != nil {
		w.r.Published(w.sent, w.total)
	}
}

type pendingReplay struct {
	item ReplayItem
	ack  jetstream.PubAckFuture
}

func (w *sender) send(ctx context.Context, items []ReplayItem) error {
	pending := make([]pendingReplay, 0, len(items))
	var sendErr error
	for _, it := range items {
		if w.pace != nil && w.started {
			select {
			case <-w.pace:
			case <-ctx.Done():
			}
		}
		if sendErr = ctx.Err(); sendErr != nil {
			break
		}
		w.started = true
		f, err := w.r.js.PublishMsgAsync(w.r.replayMsg(it), jetstream.WithMsgID(
			"replay:"+it.Connector+":"+strconv.FormatUint(it.Seq, 10)))
		if err != nil {
			sendErr = fmt.Errorf("replay dead letter %d: %w", it.Seq, err)
			break
		}
		pending = append(pending, pendingReplay{it, f})
		w.published(1)
	}
	// What was sent is settled even when ctx ended (an interrupted
	// replay): its dead letters are removed, not left to be sent twice.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return errors.Join(sendErr, w.settle(sctx, pending))
}

// settle awaits each replay's PubAck, in order, then removes the dead
// letters whose replay is stored. A duplicate PubAck means another replay
// sent that letter first; it is removed too, and not counted as sent.
func (w *sender) settle(ctx context.Context, pending []pendingReplay) error {
	stored := make([]letterRef, 0, len(pending))
	sent := map[string]int{}
	var ackErr error
await:
	for _, p := range pending {
		select {
		case ack := <-p.ack.Ok():
			stored = append(stored, letterRef{p.item.Seq, p.item.Connector})
			if ack.Duplicate {
				w.res.Gone++
			} else {
				sent[p.item.Connector]++
			}
		case err := <-p.ack.Err():
			ackErr = fmt.Errorf("replay of dead letter %d not stored; it and the rest stay parked: %w", p.item.Seq, err)
			break await
		case <-ctx.Done():
			ackErr = fmt.Errorf("replay of dead letter %d not confirmed; it and the rest stay parked: %w", p.item.Seq, ctx.Err())
			break await
		}
	}
	for c, n := range sent {
		w.res.Replayed[c] += n
	}
	if _, err := removeLetters(ctx, w.dlq, stored, w.r.Prefix); err != nil {
		return errors.Join(ackErr, fmt.Errorf(
			"replayed but not removed (still listed; replaying again sends nothing twice within 2 min): %w", err))
	}
	return ackErr
}

func (r *Replayer) report(done, total int) {
	if r.Progress != nil {
		r.Progress(done, total)
	}
}

func (r *Replayer) replayMsg(it ReplayItem) *nats.Msg {
	m := nats.NewMsg(ReplaySubjectPrefix + it.Connector)
	m.Data = it.Body
	for k, v := range it.Header {
		m.Header[k] = v
	}
	m.Header.Set(HeaderReplayOf, strconv.FormatUint(it.Seq, 10))
	m.Header.Del(HeaderReplayMapping) // from an earlier replay of the event
	if it.Mapping == MappingOriginal {
		m.Header.Set(HeaderReplayMapping, MappingOriginal)
	}
	m.Header.Del(HeaderReplayedBy)
	if r.Actor != "" {
		m.Header.Set(HeaderReplayedBy, r.Actor)
	}
	return m
}

// HeaderRepair marks a replay sent by verification to put an entity's
// record back (`extsync verify --repair`): the event is the version last
// delivered, sent again because the system's record drifted from it. Its
// value names the verification run. The pipeline lets such a replay
// through ordering although its version is the one delivered (see
// reconcile.Store.AcquireRepair).
const HeaderRepair = "Extsync-Repair"
