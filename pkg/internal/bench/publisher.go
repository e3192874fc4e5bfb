package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publisher is a platform module: its own connection, structured
// CloudEvents with Nats-Msg-Id, published asynchronously.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
	g  *generator

	mu       sync.Mutex
	failures int
	firstErr error
}

// maxPendingAcks bounds the PubAcks in flight, and so the publisher's
// memory: a publish waits for room rather than buffering the backlog.
const maxPendingAcks = 1024

func newPublisher(url string, g *generator) (*publisher, error) {
	nc, err := nats.Connect(url, nats.Name("extsync-bench-publisher"))
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &publisher{nc: nc, g: g}
	p.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPendingAcks),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) { p.fail(err) }))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("publisher: %w", err)
	}
	return p, nil
}

func (p *publisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures++
	if p.firstErr == nil {
		p.firstErr = err
	}
}

func (p *publisher) close() { p.nc.Close() }

// publish sends one event without waiting for its PubAck.
func (p *publisher) publish(id string, now time.Time) error {
	m := &nats.Msg{Subject: Subject, Data: p.g.event(id, now), Header: nats.Header{
		jetstream.MsgIDHeader: {id},
		"Content-Type":        {"application/cloudevents+json"},
	}}
	// A full window of PubAcks waits for room instead of failing.
	if _, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute)); err != nil {
		return fmt.Errorf("publish %s: %w", id, err)
	}
	return nil
}

// complete waits for every PubAck and reports any publish that failed.
func (p *publisher) complete(ctx context.Context) error {
	select {
	case <-p.js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return errors.New("publisher: PubAcks still missing after 1 min")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures > 0 {
		return fmt.Errorf("publisher: %d events not stored, the first: %w", p.failures, p.firstErr)
	}
	return nil
}

// preload publishes n events of phase and waits until all are stored.
func (p *publisher) preload(ctx context.Context, phase byte, n int) error {
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := p.publish(eventID(phase, i), time.Now()); err != nil {
			return err
		}
	}
	return p.complete(ctx)
}

// paced publishes n events of phase at rate per second, each carrying the
// time it was published, and notes that time in sent[i]. A ticker paces
// it; a late tick catches up, so the average rate holds.
func (p *publisher) paced(ctx context.Context, phase byte, n, rate int, sent []atomic.Int64) error {
	tick := time.NewTicker(max(time.Second/time.Duration(rate), time.Millisecond))
	defer tick.Stop()
	start := time.Now()
	for i := 0; i < n; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		due := min(int(time.Since(start).Seconds()*float64(rate))+1, n)
		for ; i < due; i++ {
			now := time.Now()
			sent[i].Store(now.UnixNano())
			if err := p.publish(eventID(phase, i), now); err != nil {
				return err
			}
		}
	}
	return p.complete(ctx)
}
