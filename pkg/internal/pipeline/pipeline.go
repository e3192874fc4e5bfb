package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/batch"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/internal/throttle"
	"github.com/hms/extsync/pkg/synclog"
)

// Options wire a pipeline to its broker and connector kinds.
type Options struct {
	JS     jetstream.JetStream
	Stream string // the event stream, HMS_EVENTS by default
	Kinds  *connectors.Kinds
	Logger *slog.Logger
	// DrainTimeout bounds how long shutdown waits for in-flight deliveries.
	DrainTimeout time.Duration
	// OnRecord, if set, sees every sync log record after it is stored.
	OnRecord func(synclog.Record)
	// Clock drives batch schedules; nil is the system clock.
	Clock batch.Clock
	// Replicas of the KV buckets and streams the pipeline creates.
	Replicas int
	// Instance names this process among the replicas sharing a
	// connector's throttle; a random id when empty.
	Instance string
	// AckWait, if set, replaces the ack wait derived from each
	// connector's timeout (twice it plus 10 s, 30 s at least): tests use a
	// short one to make an outage outlast it.
	AckWait time.Duration
	// QueueBytes bounds the bytes of the messages each of a connector's
	// two consumers holds before a worker starts them
	// (DefaultQueueBytes when 0).
	QueueBytes int64
	// SeedWait bounds how long a connector with `start: snapshot` waits
	// for the snapshot to catch up with the event stream before it is
	// seeded (DefaultSeedWait when 0).
	SeedWait time.Duration

	metrics   *instruments
	mappings  *mapping.Store
	state     *reconcile.Store
	throttles jetstream.KeyValue
}

// Pipeline runs every connector's Runner. Connectors can be added,
// replaced and removed while it runs (the connector store).
type Pipeline struct {
	o      Options
	gauges metric.Registration

	// changes serialises Upsert and Remove, so one name is never being
	// replaced twice at once.
	changes sync.Mutex
	mu      sync.Mutex
	runners []*Runner
	started map[*Runner]*startedRunner // started runners, until stopped
	running int                        // started runners whose Run has not returned
	waiting *Runner                    // an Upsert's new runner, while the old one drains
	runCtx  context.Context            // set once Run starts
	exited  chan struct{}              // a runner returned
	errs    []error
	wg      sync.WaitGroup
}

// New provisions a consumer per connector. Nothing is consumed until Run.
func New(ctx context.Context, o Options, conns []config.Connector) (*Pipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	o.metrics = newInstruments()
	var err error
	if o.mappings, err = mapping.OpenStore(ctx, o.JS, o.Replicas); err != nil {
		return nil, err
	}
	if o.state, err = reconcile.Open(ctx, o.JS, o.Replicas); err != nil {
		return nil, err
	}
	if err := broker.EnsureStream(ctx, o.JS, reconcile.ConflictStreamConfig(o.Replicas)); err != nil {
		return nil, err
	}
	if o.throttles, err = throttle.Open(ctx, o.JS, o.Replicas); err != nil {
		return nil, err
	}
	if o.Instance == "" {
		o.Instance = uuid.NewString()
	}
	p := &Pipeline{o: o, started: map[*Runner]*startedRunner{}, exited: make(chan struct{}, 1)}
	for i := range conns {
		r, err := newRunner(ctx, &p.o, &conns[i])
		if err != nil {
			for _, done := range p.runners {
				_ = done.conn.Close()
			}
			return nil, err
		}
		p.runners = append(p.runners, r)
	}
	if err := p.registerGauges(o.JS); err != nil {
		p.o.Logger.Warn("gauges not registered", "err", err)
	}
	return p, nil
}

// Run consumes until ctx ends and every runner has drained. A runner that
// fails (its consumer deleted under it) is reported and the others go on;
// Run also returns when every runner has stopped and one of them failed.
func (p *Pipeline) Run(ctx context.Context) error {
	p.mu.Lock()
	p.runCtx = ctx
	for _, r := range p.runners {
		p.start(r)
	}
	p.mu.Unlock()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-p.exited:
			p.mu.Lock()
			done = p.running == 0 && len(p.errs) > 0
			p.mu.Unlock()
		}
	}
	p.wg.Wait()
	if p.gauges != nil {
		_ = p.gauges.Unregister()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runners {
		if _, started := p.started[r]; !started {
			_ = r.conn.Close() // added by an Upsert as Run was ending
		}
	}
	return errors.Join(p.errs...)
}

// Connectors is the configuration of every connector running now.
func (p *Pipeline) Connectors() []config.Connector {
	rs := p.snapshot()
	out := make([]config.Connector, len(rs))
	for i, r := range rs {
		out[i] = *r.cfg
	}
	return out
}

// snapshot is the current runners, for readers that must not hold p.mu
// while doing I/O.
func (p *Pipeline) snapshot() []*Runner {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Runner(nil), p.runners...)
}

// startedRunner is a runner's Run, started once.
type startedRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs r under Run's context, unless it was started already (Run
// and Upsert may both reach a new runner); call with p.mu held.
func (p *Pipeline) start(r *Runner) {
	if _, started := p.started[r]; started {
		return
	}
	ctx, cancel := context.WithCancel(p.runCtx)
	l := &startedRunner{cancel: cancel, done: make(chan struct{})}
	p.started[r] = l
	p.running++
	p.wg.Go(func() {
		defer close(l.done)
		err := r.Run(ctx)
		p.mu.Lock()
		p.running--
		if err != nil {
			p.o.Logger.Error("connector stopped", "connector", r.cfg.Name, "err", err)
			p.errs = append(p.errs, err)
		}
		p.mu.Unlock()
		select {
		case p.exited <- struct{}{}:
		default:
		}
	})
}

// stop ends r: it stops pulling, finishes and settles what is in flight
// (drains), and closes its connector. It returns once that is done.
func (p *Pipeline) stop(r *Runner) {
	p.mu.Lock()
	l, started := p.started[r]
	delete(p.started, r)
	p.mu.Unlock()
	if !started {
		_ = r.conn.Close() // Run never had it; Run closes its own
		return
	}
	l.cancel()
	<-l.done
}

// Upsert starts connector cfg, or replaces the runner of that name: the
// new runner is built (its consumer updated) first, so a bad change
// leaves the old one running; then the old one drains and the new one
// starts. Nothing in flight is lost: what the old runner had not settled
// is redelivered to the new one.
func (p *Pipeline) Upsert(ctx context.Context, cfg config.Connector) error {
	p.changes.Lock()
	defer p.changes.Unlock()
	nr, err := newRunner(ctx, &p.o, &cfg)
	if err != nil {
		return err
	}
	p.mu.Lock()
	i := slices.IndexFunc(p.runners, func(r *Runner) bool { return r.cfg.Name == cfg.Name })
	var old *Runner
	if i >= 0 {
		old = p.runners[i]
		p.runners[i] = nr
	} else {
		p.runners = append(p.runners, nr)
	}
	p.waiting = nr
	p.mu.Unlock()
	if old != nil {
		// Bounded by the drain timeout; say so, as an update can take it.
		p.o.Logger.Info("connector changed: draining the old runner before the new one starts",
			"connector", cfg.Name, "drain_timeout", p.o.DrainTimeout)
		p.stop(old)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting = nil
	if p.runCtx != nil && p.runCtx.Err() == nil {
		p.start(nr)
	}
	return nil
}

// Remove stops the named connector's runner after draining it. Its
// durable consumers stay, so applying the connector again resumes where
// it stopped instead of replaying the stream.
func (p *Pipeline) Remove(name string) error {
	p.changes.Lock()
	defer p.changes.Unlock()
	p.mu.Lock()
	i := slices.IndexFunc(p.runners, func(r *Runner) bool { return r.cfg.Name == name })
	if i < 0 {
		p.mu.Unlock()
		return fmt.Errorf("connector %q is not running here", name)
	}
	r := p.runners[i]
	p.runners = slices.Delete(p.runners, i, i+1)
	p.mu.Unlock()
	p.stop(r)
	return nil
}

// RunBatch asks the named batch connector to send what waits now, as
// `extsync batch run` does; false when there is no such batch connector.
func (p *Pipeline) RunBatch(name string) bool {
	for _, r := range p.snapshot() {
		if r.cfg.Name == name && r.batcher != nil {
			r.batcher.trigger()
			return true
		}
	}
	return false
}
