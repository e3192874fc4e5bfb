package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/internal/throttle"
	"github.com/hms/extsync/pkg/synclog"
)

// Runner moves one connector's events: its own consumers, workers, guard
// and policy, so a slow or failing system holds back no other connector.
// It assembles the pieces and runs them; each piece does one thing:
//
//	reader → intake → feeder → worker (chain of stages) → settler → acker
type Runner struct {
	cfg       *config.Connector
	conn      connectors.Connector
	consumers consumers
	limits    limits
	decoder   *decoder
	chain     handler // realtime: up to deliver; batch: up to accept
	guard     *policy.Guard
	throttle  *throttle.Shared // nil without a throttle block
	lease     *reconcile.Lease // ordering entity: who sends alone, and claims through it
	keys      *keyQueue        // nil when ordering is none
	budgets   [2]*budget       // the events' and the replays' intakes
	settler   *settler
	batcher   *batcher // mode: batch
	js        jetstream.JetStream
}

// consumers are a connector's two durable consumers: the event stream,
// and its replays on EXTSYNC_REPLAY (dead letters an operator sent back,
// through the same stages as new events).
type consumers struct {
	events, replays jetstream.Consumer
}

// limits are the consumer's and the drain's bounds.
type limits struct {
	pull, maxAckPending int
	ackWait, drain      time.Duration
}

// sizes derives the consumer's limits from the connector's concurrency:
// the client buffers a couple of batches so workers never wait on a pull
// round trip, and ack-pending leaves room for messages waiting on a
// NakWithDelay retry, which JetStream counts as pending. At least 64 are
// pulled at a time: with few workers, smaller pulls mean a pull request
// (and its wake-ups on both sides) every few events.
func sizes(concurrency int, timeout time.Duration) (pull, maxAckPending int, ackWait time.Duration) {
	pull = min(max(2*concurrency+16, 64), 512)
	maxAckPending = min(max(8*concurrency, pull+concurrency), 20_000)
	ackWait = max(30*time.Second, 2*timeout+10*time.Second)
	return pull, maxAckPending, ackWait
}

func newRunner(ctx context.Context, o *Options, cfg *config.Connector) (*Runner, error) {
	conn, err := o.Kinds.New(cfg.Kind, connectors.Spec{Name: cfg.Name, Concurrency: cfg.Concurrency,
		Batch: cfg.Mode == config.ModeBatch, Decode: cfg.Decode})
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("connector", cfg.Name)
	r := &Runner{cfg: cfg, conn: conn, js: o.JS, limits: limitsOf(o, cfg, conn),
		budgets: [2]*budget{newBudget(o.QueueBytes), newBudget(o.QueueBytes)}}
	if t := cfg.Throttle; t != nil {
		r.throttle = throttle.New(o.throttles, cfg.Name, o.Instance, throttle.ParamsOf(t), log)
	}
	r.guard = policy.NewGuard(cfg, r.throttle, log)
	var claims entityClaims = o.state
	if cfg.Ordering == config.OrderingEntity {
		r.lease = o.state.Lease(cfg.Name, o.Instance, claimHold(conn), log)
		claims = r.lease
	}
	order := entityStateOf(cfg, conn, claims, r.limits.ackWait, log)
	if cfg.Ordering == config.OrderingEntity {
		r.keys = newKeyQueue()
		if cfg.Mode != config.ModeBatch {
			order.queued = r.keys.queued
		}
	}
	warnConflictRule(log, cfg, conn)
	routes := &router{connector: cfg.Name, current: mapping.New(cfg.Mapping), mappings: o.mappings, js: o.JS}
	if routes.version, err = o.mappings.Save(ctx, cfg.Name, cfg.Mapping); err != nil {
		log.Warn("mapping version not stored; replays with --mapping original will not find it", "err", err)
	}
	r.decoder = &decoder{opts: event.Options{KeyPath: cfg.Key, VersionPath: cfg.Version},
		maxBytes: cfg.MaxEventBytes, routes: routes, traced: cfg.Mode != config.ModeBatch,
		deletes: cfg.Deletes}
	r.settler = &settler{connector: cfg.Name, policy: policy.FromConfig(cfg), letters: deadletter.NewParker(o.JS),
		order: order, obs: newObserver(cfg, o.metrics, log, o.OnRecord)}
	if cfg.Mode == config.ModeBatch {
		r.chain = chain(accept, failed, mapStage, deletable(conn), order.staleStage())
		r.batcher, err = newBatcher(r, order, o.Clock)
	} else {
		remote, _ := conn.(connectors.Remote)
		r.chain = chain(deliver(conn), failed, mapStage, deletable(conn), order.stage(), guardStage(r.guard, r.limits.ackWait), order.renewStage(),
			conflictStage(cfg.Name, cfg.Conflict, remote, streamConflicts{o.JS}))
	}
	if err == nil {
		err = r.ensureConsumers(ctx, o)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connector %q: %w", cfg.Name, err)
	}
	return r, nil
}

// entityStateOf is the connector's use of the entity state: claims
// under ordering entity (whose releases keep versioned events' records),
// and the records of unversioned events where the connector asks for
// them; nil for neither. A claim that waits tells JetStream every third
// of ackWait that its event is being worked on.
func entityStateOf(cfg *config.Connector, conn connectors.Connector, claims entityClaims, ackWait time.Duration, log *slog.Logger) *entityOrder {
	ordered := cfg.Ordering == config.OrderingEntity
	if !ordered && !cfg.KeepsRecords() {
		return nil
	}
	return &entityOrder{claims: claims, connector: cfg.Name, hold: claimHold(conn), alive: ackWait / 3, log: log,
		ordered: ordered, keep: cfg.KeepsRecords(), skip: cfg.SkipsUnchanged}
}

// background runs fn until the returned stop is called, which waits for
// it: beside a runner's drain, not only until the run's ctx ends.
func background(fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	return func() { cancel(); <-done }
}

// claimHold bounds a claim: an instance that dies holding one blocks the
// entity only that long, and it outlasts any one delivery.
func claimHold(conn connectors.Connector) time.Duration { return conn.Timeout() + 10*time.Second }

func limitsOf(o *Options, cfg *config.Connector, conn connectors.Connector) limits {
	l := limits{drain: o.DrainTimeout}
	l.pull, l.maxAckPending, l.ackWait = sizes(cfg.Concurrency, conn.Timeout())
	if o.AckWait > 0 {
		l.ackWait = o.AckWait
	}
	if cfg.Mode == config.ModeBatch {
		// A batch holds its events unacked, and the next one fills while
		// it is sent: room for two.
		l.pull, l.maxAckPending = min(cfg.Batch.MaxEvents, 512), 2*cfg.Batch.MaxEvents+512
	}
	return l
}

// warnConflictRule says at start when the conflict rule cannot work as
// configured with this kind.
func warnConflictRule(log *slog.Logger, cfg *config.Connector, conn connectors.Connector) {
	switch cfg.Conflict.Strategy {
	case config.ConflictOverwrite, config.ConflictMerge:
		if _, ok := conn.(connectors.Remote); !ok {
			log.Warn("this kind cannot read the remote record; conflicts are retried with backoff, then dead-lettered",
				"strategy", cfg.Conflict.Strategy, "kind", cfg.Kind)
		}
	}
}

// ensureConsumers creates or updates the connector's durable consumers:
// one on the event stream, one on its replays.
func (r *Runner) ensureConsumers(ctx context.Context, o *Options) error {
	js := o.JS
	var start uint64
	if r.cfg.Start == config.StartSnapshot {
		var err error
		if start, err = r.seed(ctx, o); err != nil {
			return err
		}
	}
	var err error
	r.consumers.events, err = broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
		Stream: o.Stream, Durable: r.cfg.Durable(), Filters: r.cfg.Subjects,
		AckWait: r.limits.ackWait, MaxAckPending: r.limits.maxAckPending, FromNow: r.cfg.Start == config.StartNow,
		StartSeq: start,
	})
	if err != nil {
		return err
	}
	r.consumers.replays, err = broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
		Stream: deadletter.ReplayStream, Durable: r.cfg.Durable() + "-replay",
		Filters: []string{deadletter.ReplaySubjectPrefix + r.cfg.Name},
		AckWait: r.limits.ackWait, MaxAckPending: r.limits.maxAckPending,
	})
	return err
}

// Run consumes until ctx ends, then drains: it stops pulling, releases
// buffered messages, lets in-flight deliveries finish (up to the drain
// timeout) and settles them, and closes the connector.
func (r *Runner) Run(ctx context.Context) error {
	defer r.conn.Close()
	if r.throttle != nil {
		defer background(r.throttle.Run)() // paces deliveries until the drain ends, not only until ctx does
	}
	if r.lease != nil {
		defer background(r.lease.Run)() // withdrawn once the drain has settled every claim
	}
	events, err := r.consumers.events.Messages(jetstream.PullMaxMessages(r.limits.pull))
	if err != nil {
		return fmt.Errorf("connector %q: consume: %w", r.cfg.Name, err)
	}
	replays, err := r.consumers.replays.Messages(jetstream.PullMaxMessages(min(r.limits.pull, 64)))
	if err != nil {
		events.Stop()
		return fmt.Errorf("connector %q: consume replays: %w", r.cfg.Name, err)
	}
	r.settler.acks = newAcker(r.settler, synclog.NewWriter(r.js), r.limits.maxAckPending)
	defer r.settler.acks.stop()
	stats := &r.settler.obs.stats
	stats.running.Store(true)
	defer stats.running.Store(false)
	if r.batcher != nil {
		return r.batcher.run(ctx, events, replays)
	}
	return r.runWorkers(ctx, [2]jetstream.MessagesContext{events, replays})
}

// runWorkers runs a reader and a feeder per consumer and the workers,
// until ctx ends or a reader stops for good.
func (r *Runner) runWorkers(ctx context.Context, its [2]jetstream.MessagesContext) error {
	deliverCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	jobs := make(chan *job)
	w := &worker{chain: r.chain, settler: r.settler, keys: r.keys, keep: r.limits.ackWait / 3}
	var workers sync.WaitGroup
	for range r.cfg.Concurrency {
		workers.Go(func() { w.run(deliverCtx, jobs) })
	}
	stopped := make(chan struct{})
	go func() { // stops both iterators when ctx ends or a reader returns
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		for _, it := range its {
			it.Drain()
		}
	}()
	var pumps sync.WaitGroup
	var once sync.Once
	errs := make([]error, len(its))
	rd := &reader{connector: r.cfg.Name, decoder: r.decoder, log: r.settler.obs.log}
	intakes := make([]*intake, len(its))
	for i, it := range its {
		in := newIntake(r.budgets[i])
		intakes[i] = in
		f := &feeder{in: in, keys: r.keys, keep: r.limits.ackWait / 3}
		if r.settler.order != nil && r.settler.order.ordered {
			f.preclaim = r.settler.order.preclaim
		}
		pumps.Go(func() {
			errs[i] = rd.read(ctx, it, in)
			once.Do(func() { close(stopped) })
		})
		pumps.Go(func() { f.run(ctx, jobs) })
	}
	pumps.Wait()
	for _, in := range intakes { // what a reader queued as its feeder stopped
		in.nakAll()
	}
	close(jobs)
	r.await(&workers, hardStop)
	return errors.Join(errs...)
}

func (r *Runner) await(workers *sync.WaitGroup, hardStop context.CancelFunc) {
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.limits.drain):
		r.settler.obs.log.Warn("drain timeout: cancelling deliveries still running", "timeout", r.limits.drain)
		hardStop()
		<-done
	}
}
