package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/mapping"
	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/reconcile"
	"github.com/hms/extsync/pkg/synclog"
	"github.com/hms/extsync/pkg/throttle"
)

// Runner moves one connector's events: its own consumer, workers, guard
// and policy, so a slow or failing system holds back no other connector.
type Runner struct {
	cfg      *config.Connector
	conn     connectors.Connector
	consumer jetstream.Consumer
	// replays is the connector's consumer on EXTSYNC_REPLAY: dead letters
	// an operator sent back, through the same stages as new events.
	replays  jetstream.Consumer
	policy   policy.Policy
	guard    *policy.Guard
	throttle *throttle.Shared // nil without a throttle block
	handler  handler
	decodeOp event.Options
	keys     *keyQueue // nil when ordering is none
	mapping  *mapping.Mapping
	// mappingVersion names the current mapping in the sync log and dead
	// letters; mappings holds the earlier ones, for replays.
	mappingVersion string
	mappings       *mapping.Store
	synclog        *synclog.Writer
	parker         *deadletter.Parker
	acks           *acker // set while Run runs
	firsts         firstAttempts
	log            *slog.Logger
	onRecord       func(synclog.Record)
	metrics        *instruments
	attrSets       sync.Map // outcome → *outcomeOptions
	spanAttrs      []attribute.KeyValue
	spanNames      spanNames
	stats          runnerStats
	batcher        *batcher         // mode: batch
	state          *reconcile.Store // nil unless ordering is entity
	js             jetstream.JetStream

	ackWait       time.Duration
	pullBatch     int
	maxAckPending int
	drain         time.Duration
	// budgets bound the bytes the events' and the replays' intakes hold.
	budgets [2]*budget
}

// sizes derives the consumer's limits from the connector's concurrency:
// the client buffers a couple of batches so workers never wait on a pull
// round trip, and ack-pending leaves room for messages waiting on a
// NakWithDelay retry, which JetStream counts as pending. At least 64 are
// pulled at a time: with few workers, smaller pulls meant a pull request
// (and its wake-ups on both sides) every few events, which at
// concurrency 1 slowed the single worker's round trips by about a tenth.
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
	pull, maxPending, ackWait := sizes(cfg.Concurrency, conn.Timeout())
	if o.AckWait > 0 {
		ackWait = o.AckWait
	}
	if cfg.Mode == config.ModeBatch {
		// A batch holds its events unacked, and the next one fills while
		// it is sent: room for two.
		pull, maxPending = min(cfg.Batch.MaxEvents, 512), 2*cfg.Batch.MaxEvents+512
	}
	r := &Runner{
		cfg: cfg, conn: conn,
		policy:   policy.FromConfig(cfg),
		decodeOp: event.Options{KeyPath: cfg.Key, VersionPath: cfg.Version},
		synclog:  synclog.NewWriter(o.JS), js: o.JS,
		parker:   deadletter.NewParker(o.JS),
		log:      o.Logger.With("connector", cfg.Name),
		onRecord: o.OnRecord,
		metrics:  o.metrics,
		ackWait:  ackWait, pullBatch: pull, maxAckPending: maxPending, drain: o.DrainTimeout,
		spanAttrs: spanAttrs(cfg),
		budgets:   [2]*budget{newBudget(o.QueueBytes), newBudget(o.QueueBytes)},
	}
	if t := cfg.Throttle; t != nil {
		r.throttle = throttle.New(o.throttles, cfg.Name, o.Instance, throttle.ParamsOf(t), r.log)
	}
	r.guard = policy.NewGuard(cfg, r.throttle, r.log)
	if cfg.Ordering == config.OrderingEntity {
		r.keys, r.state = newKeyQueue(), o.state
	}
	switch cfg.Conflict.Strategy {
	case config.ConflictManual:
		r.log.Warn("conflict strategy manual not available in this version; conflicts are retried with backoff, then dead-lettered")
	case config.ConflictOverwrite, config.ConflictMerge:
		if _, ok := conn.(connectors.Remote); !ok {
			r.log.Warn("this kind cannot read the remote record; conflicts are retried with backoff, then dead-lettered",
				"strategy", cfg.Conflict.Strategy, "kind", cfg.Kind)
		}
	}
	r.mapping, r.mappings = mapping.New(cfg.Mapping), o.mappings
	if r.mappingVersion, err = o.mappings.Save(ctx, cfg.Name, cfg.Mapping); err != nil {
		r.log.Warn("mapping version not stored; replays with --mapping original will not find it", "err", err)
	}
	r.handler = chain(deliverTo(conn), failed, mapStage, r.orderStage, guardStage(r.guard, ackWait), r.conflictStage)
	if cfg.Mode == config.ModeBatch {
		if r.batcher, err = newBatcher(r, o.Clock); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	if err := r.ensureConsumers(ctx, o.JS, o.Stream); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connector %q: %w", cfg.Name, err)
	}
	return r, nil
}

// ensureConsumers creates or updates the connector's durable consumers:
// one on the event stream, one on its replays.
func (r *Runner) ensureConsumers(ctx context.Context, js jetstream.JetStream, stream string) error {
	var err error
	r.consumer, err = broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
		Stream: stream, Durable: r.cfg.Durable(), Filters: r.cfg.Subjects,
		AckWait: r.ackWait, MaxAckPending: r.maxAckPending,
	})
	if err != nil {
		return err
	}
	r.replays, err = broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
		Stream: deadletter.ReplayStream, Durable: r.cfg.Durable() + "-replay",
		Filters: []string{deadletter.ReplaySubjectPrefix + r.cfg.Name},
		AckWait: r.ackWait, MaxAckPending: r.maxAckPending,
	})
	return err
}

// Run consumes until ctx ends, then drains: it stops pulling, releases
// buffered messages, lets in-flight deliveries finish (up to the drain
// timeout) and settles them, and closes the connector.
func (r *Runner) Run(ctx context.Context) error {
	defer r.conn.Close()
	if r.throttle != nil {
		// Paces deliveries until the drain ends, not only until ctx does.
		thrCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.throttle.Run(thrCtx) }()
		defer func() { stop(); <-done }()
	}
	events, err := r.consumer.Messages(jetstream.PullMaxMessages(r.pullBatch))
	if err != nil {
		return fmt.Errorf("connector %q: consume: %w", r.cfg.Name, err)
	}
	replays, err := r.replays.Messages(jetstream.PullMaxMessages(min(r.pullBatch, 64)))
	if err != nil {
		events.Stop()
		return fmt.Errorf("connector %q: consume replays: %w", r.cfg.Name, err)
	}
	deliverCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()
	r.acks = newAcker(r, r.maxAckPending)
	r.stats.running.Store(true)
	defer r.stats.running.Store(false)
	if r.batcher != nil {
		err := r.batcher.run(ctx, events, replays)
		r.acks.stop()
		return err
	}
	jobs := make(chan *job)
	var workers sync.WaitGroup
	for range r.cfg.Concurrency {
		workers.Go(func() { r.work(deliverCtx, jobs) })
	}
	stopped := make(chan struct{})
	go func() { // stops both iterators when ctx ends or a dispatch returns
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		events.Drain()
		replays.Drain()
	}()
	var dispatchers sync.WaitGroup
	var once sync.Once
	errs := make([]error, 2)
	intakes := []*intake{newIntake(r.budgets[0]), newIntake(r.budgets[1])}
	for i, it := range []jetstream.MessagesContext{events, replays} {
		in := intakes[i]
		dispatchers.Go(func() {
			errs[i] = r.read(ctx, it, in)
			once.Do(func() { close(stopped) })
		})
		dispatchers.Go(func() { r.feed(ctx, in, jobs) })
	}
	dispatchers.Wait()
	for _, in := range intakes { // what a reader queued as its feeder stopped
		in.nakAll()
	}
	close(jobs)
	r.await(&workers, hardStop)
	r.acks.stop()
	return errors.Join(errs...)
}

func (r *Runner) await(workers *sync.WaitGroup, hardStop context.CancelFunc) {
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.drain):
		r.log.Warn("drain timeout: cancelling deliveries still running", "timeout", r.drain)
		hardStop()
		<-done
	}
}

func (r *Runner) newJob(msg jetstream.Msg) (*job, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return nil, err
	}
	j := &job{msg: msg, meta: meta, touched: time.Now(), attempt: int(meta.NumDelivered), subject: msg.Subject()} // #nosec G115 -- one delivery per backoff wait: the count never nears 2^63
	if orig := msg.Headers().Get(deadletter.HeaderSubject); orig != "" && meta.Stream == deadletter.ReplayStream {
		j.subject = orig
		j.data, j.err = r.omittedBody(msg)
	}
	decode(j, r.decodeOp, r.cfg.MaxEventBytes)
	r.chooseMapping(j)
	if r.batcher == nil {
		j.parent = producerContext(msg)
	}
	return j, nil
}

// work runs the jobs it is handed, each followed by those that queued
// behind it for the same entity (the feeder admitted it; see admit).
func (r *Runner) work(ctx context.Context, jobs <-chan *job) {
	// Each attempt's timeout context registers with its parent; a parent
	// of the worker's own keeps that off the lock all workers would share.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for j := range jobs {
		for ; j != nil; j = r.after(j) {
			r.handle(ctx, j)
		}
	}
}

// after is the job that waited behind j for its entity, or nil (and the
// entity is free again).
func (r *Runner) after(j *job) *job {
	if r.keys == nil || j.key == "" {
		return nil
	}
	return r.keys.next(j.key)
}

func (r *Runner) handle(ctx context.Context, j *job) {
	j.release() // no longer waiting: what is in flight is bounded by the workers
	if ctx.Err() != nil {
		_ = j.msg.Nak() // drain timed out before this one started
		return
	}
	j.keepAliveAfter(time.Now(), r.ackWait/3) // waited behind others; keep it ours
	start := time.Now()
	j.started = start
	r.stats.inFlight.Add(1)
	defer r.stats.inFlight.Add(-1)
	spanCtx, span := r.startSpan(j)
	// The span rides on the delivery context so the client span and the
	// traceparent sent to the external system are its children; cancelling
	// stays tied to ctx (the drain deadline).
	err := r.handler(trace.ContextWithSpan(ctx, span), j)
	took := time.Since(start)
	r.settleWith(pendingAck{j: j, d: r.decide(j, err), err: err, took: took, at: start.Add(took),
		spanCtx: spanCtx, span: span})
}
