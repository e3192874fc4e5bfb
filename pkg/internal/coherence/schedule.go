package coherence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/telemetry"
)

// leaseHold is how long a round's lease lasts without renewal: a replica
// that dies mid-round holds the round that long.
const leaseHold = 5 * time.Minute

// Scheduler runs the verification rounds of the connectors with a
// `verify:` block in a running service. Every replica runs one; a lease
// in KV extsync_verify lets one replica run each round. It reports the
// last round's count of entities not in step as the gauge
// extsync.entities.drifted{extsync.connector}, on every replica.
type Scheduler struct {
	JS       jetstream.JetStream
	Kinds    *connectors.Kinds
	Stream   string
	Replicas int
	// Holder names this replica in the lease (host and process).
	Holder string
	Log    *slog.Logger
	// Connectors returns the connectors as they are now.
	Connectors func(ctx context.Context) []config.Connector
	// Tick is how often rounds are looked at (default 1m).
	Tick time.Duration
	// Looked, if set, is called after each look for due rounds: a test
	// waits on it to know the replicas have looked again.
	Looked func()

	rounds *Rounds
	states *reconcile.Store
	mu     sync.Mutex
	last   map[string]int64 // connector → not in step at its last round
}

// Run looks for due rounds every Tick until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.last = map[string]int64{}
	reg, err := s.gauge()
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()
	tick := s.Tick
	if tick <= 0 {
		tick = time.Minute
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.tick(ctx)
		if s.Looked != nil {
			s.Looked()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) gauge() (metric.Registration, error) {
	m := otel.Meter("github.com/hms/extsync/pkg/internal/coherence")
	g, err := m.Int64ObservableGauge("extsync.entities.drifted", metric.WithUnit("{entity}"),
		metric.WithDescription("entities found drifted or missing by the connector's last verification round"))
	if err != nil {
		return nil, fmt.Errorf("metric extsync.entities.drifted: %w", err)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for name, n := range s.last {
			o.ObserveInt64(g, n, metric.WithAttributes(telemetry.Connector.String(name)))
		}
		return nil
	}, g)
}

// open opens the buckets once a connector asks for verification.
func (s *Scheduler) open(ctx context.Context) error {
	if s.rounds != nil {
		return nil
	}
	states, err := reconcile.Open(ctx, s.JS, s.Replicas)
	if err != nil {
		return err
	}
	rounds, err := OpenRounds(ctx, s.JS, s.Replicas)
	if err != nil {
		return err
	}
	s.states, s.rounds = states, rounds
	return nil
}

func (s *Scheduler) tick(ctx context.Context) {
	for _, c := range s.Connectors(ctx) {
		if c.Verify == nil || ctx.Err() != nil {
			continue
		}
		if err := s.open(ctx); err != nil {
			s.Log.Warn("verification rounds not started", "err", err)
			return
		}
		if r, err := s.rounds.Last(ctx, c.Name); err == nil && r != nil {
			s.note(c.Name, r)
		}
		ok, err := s.rounds.Take(ctx, c.Name, s.Holder, c.Verify.Every.D(), leaseHold)
		if err != nil {
			s.Log.Warn("verification round not started", "connector", c.Name, "err", err)
			continue
		}
		if ok {
			s.round(ctx, &c)
		}
	}
}

func (s *Scheduler) note(connector string, r *Round) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[connector] = int64(r.Drifted + r.Missing)
}

// round runs one verification round of c, holding its lease.
func (s *Scheduler) round(ctx context.Context, c *config.Connector) {
	started := time.Now()
	v := c.Verify
	res := &Result{Connector: c.Name, Entities: []Entity{}}
	roundCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.keepLease(roundCtx, cancel, c.Name)
	conn, remote, err := Open(s.Kinds, c)
	if err == nil {
		checker := &Checker{Connector: c, Remote: remote, States: s.states, JS: s.JS, Stream: s.Stream,
			Rate: float64(v.Rate.N) / v.Rate.Per.Seconds(), Workers: 4, Repair: v.Repair, Actor: "schedule:" + s.Holder}
		res, err = checker.Run(roundCtx, Selection{Sample: float64(v.Sample)})
		_ = conn.Close()
	}
	var cannot *CannotReadBackError
	switch {
	case errors.As(err, &cannot):
		s.Log.Error("verify: block set on a connector that cannot be verified", "connector", c.Name, "err", err)
	case err != nil:
		s.Log.Warn("verification round failed", "connector", c.Name, "err", err)
	default:
		s.Log.Info("verification round done", "connector", c.Name, "checked", res.Checked, "in_step", res.InStep,
			"drifted", res.Drifted, "missing", res.Missing, "repaired", res.Repaired, "failed", res.Failed)
	}
	saveCtx, saveCancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer saveCancel()
	r := NewRound("schedule", float64(v.Sample), started, res, err)
	if err := s.rounds.Save(saveCtx, r); err != nil {
		s.Log.Warn("verification round not stored", "connector", c.Name, "err", err)
	}
	s.note(c.Name, &r)
	if err := s.rounds.Release(saveCtx, c.Name, s.Holder); err != nil {
		s.Log.Warn("verification lease not released; it lapses by itself", "connector", c.Name, "err", err)
	}
}

// keepLease renews the round's lease until ctx ends; a lease lost (it
// lapsed and another replica took it) stops the round.
func (s *Scheduler) keepLease(ctx context.Context, stop context.CancelFunc, connector string) {
	t := time.NewTicker(leaseHold / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ok, err := s.rounds.Renew(ctx, connector, s.Holder, leaseHold); err == nil && !ok {
				s.Log.Warn("verification lease lost to another replica; this round stops", "connector", connector)
				stop()
				return
			}
		}
	}
}
