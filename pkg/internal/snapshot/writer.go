package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/batch"
)

// Ensure creates the snapshot stream and its writer's durable consumer
// on the event stream when missing. A new consumer starts at the first
// stored event, so the snapshot is built from the history the event
// stream still holds.
func Ensure(ctx context.Context, js jetstream.JetStream, eventStream string, replicas int) (jetstream.Consumer, error) {
	if err := broker.EnsureStream(ctx, js, StreamConfig(replicas)); err != nil {
		return nil, err
	}
	c, err := js.CreateOrUpdateConsumer(ctx, eventStream, jetstream.ConsumerConfig{
		Durable:       Durable,
		Description:   "extsync snapshot writer",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: 4096,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", Durable, eventStream, err)
	}
	return c, nil
}

// Writer copies each event to its entity's snapshot subject, once per
// spec, when it is newer than the entry stored there.
type Writer struct {
	js       jetstream.JetStream
	consumer jetstream.Consumer
	snap     jetstream.Stream
	specs    func() []Spec
	log      *slog.Logger
	cache    *cache
	// Batch is how many events are fetched, written and acked together.
	Batch int
}

// NewWriter returns a writer reading through consumer (see Ensure).
// specs is asked, for every batch, which key and version paths the
// connectors use now (connectors can be added while it runs).
func NewWriter(ctx context.Context, js jetstream.JetStream, consumer jetstream.Consumer, specs func() []Spec, log *slog.Logger) (*Writer, error) {
	snap, err := js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("snapshot: stream %s: %w", Stream, err)
	}
	return &Writer{js: js, consumer: consumer, snap: snap, specs: specs, log: log,
		cache: newCache(100_000), Batch: 256}, nil
}

// Run writes until ctx ends. The batch under way when it ends is
// finished (written, then acked) before Run returns. A batch that cannot
// be written is left unacked and comes back after the ack wait.
func (w *Writer) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		b, err := w.consumer.Fetch(w.Batch, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn("snapshot: fetch", "err", err)
			wait(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range b.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			continue
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = w.Write(wctx, msgs)
		cancel()
		if err != nil {
			w.log.Warn("snapshot: batch not written; it comes back", "events", len(msgs), "err", err)
			wait(ctx, time.Second)
		}
	}
	return nil
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// candidate is the newest event of a batch for one snapshot subject.
type candidate struct {
	msg      jetstream.Msg
	subject  string // the event's
	eventSeq uint64
	stream   string
	id       string
	version  string
}

func (c candidate) newerThan(s stored) bool {
	return s.seq == 0 || batch.Newer(c.version, c.eventSeq, s.version, s.eventSeq)
}

// Write stores msgs' entries and then acks them all. Within the batch
// only each subject's newest event is published; each publish is
// conditional on the entry it replaces, so a concurrent writer or an old
// event delivered again never overwrites a newer entry.
//
// A subject not remembered is written as new (expecting nothing stored):
// no read for an entity seen the first time. Writes refused because the
// entry changed (written before this writer started, or by another
// instance's writer) are retried together: their entries read at once,
// then published again where still newer.
func (w *Writer) Write(ctx context.Context, msgs []jetstream.Msg) error {
	todo := w.newest(msgs)
	for round := 0; len(todo) > 0; round++ {
		if round == maxRounds {
			return fmt.Errorf("snapshot: %d entries keep changing", len(todo))
		}
		var current map[string]stored
		if round > 0 {
			var err error
			if current, err = w.readAll(ctx, todo); err != nil {
				return err
			}
		}
		refused, err := w.publish(ctx, todo, current)
		if err != nil {
			return err
		}
		todo = refused
	}
	for _, m := range msgs {
		_ = m.Ack() // a lost ack brings the event back; its write is then refused as not newer
	}
	return nil
}

// maxRounds bounds the retries of a refused write: each round reads the
// entry again, so only entries that change every time run out.
const maxRounds = 5

// publish writes each of todo conditional on the entry it expects: as
// read (current), else as remembered. It returns the writes refused
// because the entry was not that one.
func (w *Writer) publish(ctx context.Context, todo map[string]candidate, current map[string]stored) (map[string]candidate, error) {
	type pending struct {
		subj string
		c    candidate
		f    jetstream.PubAckFuture
	}
	var sent []pending
	for subj, c := range todo {
		cur, read := current[subj]
		if !read {
			cur, _ = w.cache.get(subj)
		}
		if !c.newerThan(cur) {
			if read {
				w.cache.set(subj, cur)
			}
			continue
		}
		f, err := w.js.PublishMsgAsync(entry(subj, c), jetstream.WithExpectLastSequencePerSubject(cur.seq))
		if err != nil {
			return nil, fmt.Errorf("snapshot: publish %s: %w", subj, err)
		}
		sent = append(sent, pending{subj, c, f})
	}
	var refused map[string]candidate
	for _, p := range sent {
		select {
		case ack := <-p.f.Ok():
			w.cache.set(p.subj, stored{seq: ack.Sequence, version: p.c.version, eventSeq: p.c.eventSeq})
		case err := <-p.f.Err():
			w.cache.forget(p.subj)
			if !wrongLast(err) {
				return nil, fmt.Errorf("snapshot: write %s: %w", p.subj, err)
			}
			if refused == nil {
				refused = map[string]candidate{}
			}
			refused[p.subj] = p.c
		case <-ctx.Done():
			return nil, fmt.Errorf("snapshot: write %s: %w", p.subj, ctx.Err())
		}
	}
	return refused, nil
}

// readAll reads the entries of todo's subjects, several at a time.
func (w *Writer) readAll(ctx context.Context, todo map[string]candidate) (map[string]stored, error) {
	var mu sync.Mutex
	out := make(map[string]stored, len(todo))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for subj := range todo {
		g.Go(func() error {
			s, err := w.read(ctx, subj)
			if err != nil {
				return err
			}
			mu.Lock()
			out[subj] = s
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// newest is, per snapshot subject, the newest of msgs for it.
func (w *Writer) newest(msgs []jetstream.Msg) map[string]candidate {
	paths := keyPaths(w.specs())
	best := make(map[string]candidate, len(msgs)*len(paths))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		in := event.Message{Subject: m.Subject(), Stream: meta.Stream, Seq: meta.Sequence.Stream,
			Header: m.Headers(), Body: m.Data()}
		for _, k := range paths {
			ev, err := k.read(in)
			if err != nil || ev.Key == "" {
				w.log.Debug("snapshot: event skipped: no entity key", "subject", in.Subject, "seq", in.Seq,
					"key", k.key, "err", err)
				continue
			}
			c := candidate{msg: m, subject: in.Subject, eventSeq: in.Seq, stream: in.Stream,
				id: ev.ID, version: ev.Version}
			subj := subject(k.token, ev.Key, in.Subject)
			if prev, ok := best[subj]; ok && !batch.Newer(c.version, c.eventSeq, prev.version, prev.eventSeq) {
				continue
			}
			best[subj] = c
		}
	}
	return best
}

func (w *Writer) read(ctx context.Context, subj string) (stored, error) {
	m, err := w.snap.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return stored{}, nil
	}
	if err != nil {
		return stored{}, fmt.Errorf("snapshot: read %s: %w", subj, err)
	}
	return storedOf(m), nil
}

func storedOf(m *jetstream.RawStreamMsg) stored {
	seq, _ := strconv.ParseUint(m.Header.Get(deadletter.HeaderStreamSeq), 10, 64)
	return stored{seq: m.Sequence, version: versionOf(m.Header), eventSeq: seq}
}

// versionOf reads HeaderVersion, kept path-escaped as a version is any
// text the event held, line breaks included.
func versionOf(h nats.Header) string {
	v, err := url.PathUnescape(h.Get(HeaderVersion))
	if err != nil {
		return ""
	}
	return v
}

func wrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// entry is the event as kept: its body and headers (but the server's),
// with where it came from, as a replay of it needs them.
func entry(subj string, c candidate) *nats.Msg {
	m := nats.NewMsg(subj)
	m.Data = c.msg.Data()
	for k, v := range c.msg.Headers() {
		if !strippedHeader(k) {
			m.Header[k] = v
		}
	}
	m.Header.Set(deadletter.HeaderSubject, c.subject)
	m.Header.Set(deadletter.HeaderStream, c.stream)
	m.Header.Set(deadletter.HeaderStreamSeq, strconv.FormatUint(c.eventSeq, 10))
	m.Header.Set(deadletter.HeaderEventID, c.id)
	m.Header.Set(HeaderVersion, url.PathEscape(c.version))
	return m
}
