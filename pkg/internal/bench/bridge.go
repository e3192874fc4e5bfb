package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// bridgeDurable is the bare bridge's consumer on the event stream; it
// reads the same preloaded backlog as the pipeline's own consumer.
const bridgeDurable = "bench-bridge"

// errBridgeStalled is a bare bridge that acked nothing for bridgeStall
// while messages were left: its client can skip a pull and then wait for
// missed heartbeats, 30 s (the race broker.Iter works around, which a
// hand-written bridge does not), and that would make the bridge, and
// every ratio to it, meaningless. The phase runs again.
var errBridgeStalled = errors.New("bare bridge stalled")

const bridgeStall = 5 * time.Second

// bridgeTries bounds the bridge phase's runs: a stall now and then is
// the client's, not the pipeline's, and must not fail a run (CI's
// --quick among them); one in every try is.
const bridgeTries = 3

// bridgeProfile is where the bridge phase's CPU profile goes, beside the
// pipeline's ("" for none), so the two can be compared function by
// function.
func bridgeProfile(pipeline string) string {
	if pipeline == "" {
		return ""
	}
	return pipeline + ".bridge"
}

// bareBridge is the least a NATS-to-HTTP bridge does: one pull consumer
// with a buffer (Consume), workers that PUT each message's body to the
// sink and ack it. No decoding, mapping, ordering, retry, dead letters,
// sync log or tracing: what extsync adds over this is the price of those.
// It returns how long draining n messages took, from starting to consume
// to the last ack.
func bareBridge(ctx context.Context, natsURL, urlTemplate string, n, workers int) (time.Duration, error) {
	nc, err := nats.Connect(natsURL, nats.Name("extsync-bench-bridge"))
	if err != nil {
		return 0, fmt.Errorf("bare bridge: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("bare bridge: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, streamName, jetstream.ConsumerConfig{
		Durable: bridgeDurable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: Subject,
	})
	if err != nil {
		return 0, fmt.Errorf("bare bridge: consumer: %w", err)
	}
	defer func() { _ = js.DeleteConsumer(context.WithoutCancel(ctx), streamName, bridgeDurable) }()

	tr := newTransport(workers)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		acked    atomic.Int64
		missedAt atomic.Int64 // acked at the last missed heartbeat
		end      time.Time    // written once, by the worker that acks the n-th
		all      = make(chan struct{})
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	missedAt.Store(-1)
	batch := min(max(2*workers, 64), 500)
	// Room for a whole pull: the callback never waits on busy workers, so
	// the consumer's heartbeats are read in time.
	msgs := make(chan jetstream.Msg, batch)
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-msgs:
					if err := put(ctx, client, urlTemplate, m); err != nil {
						fail(err)
						return
					}
					if err := m.Ack(); err != nil {
						fail(fmt.Errorf("bare bridge: ack: %w", err))
						return
					}
					if acked.Add(1) == int64(n) {
						end = time.Now()
						close(all)
					}
				}
			}
		})
	}
	// The workers end before this returns.
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { watchAcks(ctx, &acked, n, fail) })
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(batch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// A missed heartbeat is often a callback blocked on busy workers on
		// a loaded machine, and Consume pulls again by itself: only a
		// bridge that acked nothing since the last miss has stalled.
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return
		}
		if a := acked.Load(); missedAt.Swap(a) == a {
			fail(fmt.Errorf("bare bridge: stalled: %w", err))
		}
	}))
	if err != nil {
		cancel()
		return 0, fmt.Errorf("bare bridge: consume: %w", err)
	}
	defer cc.Stop()
	select {
	case <-all:
		return end.Sub(start), nil
	case <-ctx.Done():
		errOnce.Do(func() {}) // returns once a fail in progress has set firstErr
		if firstErr != nil {
			return 0, firstErr
		}
		return 0, ctx.Err()
	}
}

// watchAcks fails the bridge when acked stops moving for bridgeStall
// before reaching n.
func watchAcks(ctx context.Context, acked *atomic.Int64, n int, fail func(error)) {
	tick := time.NewTicker(bridgeStall / 10)
	defer tick.Stop()
	last, since := acked.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			a := acked.Load()
			switch {
			case a >= int64(n):
				return
			case a != last:
				last, since = a, now
			case now.Sub(since) > bridgeStall:
				fail(fmt.Errorf("%w: no ack for %s at %d of %d", errBridgeStalled, bridgeStall, a, n))
				return
			}
		}
	}
}

// put sends one message's body to the sink, at the URL its Nats-Msg-Id
// (the event id) names.
func put(ctx context.Context, client *http.Client, urlTemplate string, m jetstream.Msg) error {
	id := m.Headers().Get(jetstream.MsgIDHeader)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut,
		strings.Replace(urlTemplate, "{id}", id, 1), bytes.NewReader(m.Data()))
	if err != nil {
		return fmt.Errorf("bare bridge: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bare bridge: %w", err)
	}
	discard(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bare bridge: PUT %s: %s", req.URL.Path, resp.Status)
	}
	return nil
}

// bridgePhase drains the preloaded backlog again, through the bare bridge
// this time, with the pipeline idle (its consumer has nothing left).
func (t *trial) bridgePhase(ctx context.Context) (err error) {
	var took time.Duration
	var cpu0, natsCPU0 time.Duration
	stopProfile, err := startProfile(bridgeProfile(t.res.CPUProfile))
	if err != nil {
		return err
	}
	defer func() { // a profile not written fails the run, as the pipeline phase's does
		if serr := stopProfile(); serr != nil && err == nil {
			err = serr
		}
	}()
	for try := 0; ; try++ {
		if t.snk != nil {
			t.snk.expect(newTally(phaseThroughput, t.o.Events, false))
		}
		cpu0, natsCPU0 = cpuTime(), t.natsCPU()
		took, err = bareBridge(ctx, t.svc.NATSURL(), t.url, t.o.Events, t.res.Concurrency)
		if err == nil {
			break
		}
		if try+1 >= bridgeTries || !errors.Is(err, errBridgeStalled) {
			return err
		}
		t.progress("%v; running it again", err)
	}
	cpu1, natsCPU1 := cpuTime(), t.natsCPU()
	r := &t.res
	r.BridgeSeconds = took.Seconds()
	r.BridgePerSec = float64(t.o.Events) / r.BridgeSeconds
	r.BridgeRatio = r.PipelinePerSec / r.BridgePerSec
	r.BridgeCPUMicros = perEvent(cpu0, cpu1, t.o.Events)
	r.BridgeNATSCPUMicros = perEvent(natsCPU0, natsCPU1, t.o.Events)
	t.progress("bare bridge %.0f ev/s, CPU %.0f µs/event (NATS %.0f); pipeline %.2f of it",
		r.BridgePerSec, r.BridgeCPUMicros, r.BridgeNATSCPUMicros, r.BridgeRatio)
	return nil
}
