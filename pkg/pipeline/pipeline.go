package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/synclog"
)

// Options wire a pipeline to its broker and connector kinds.
type Options struct {
	JS       jetstream.JetStream
	Stream   string // the event stream, HMS_EVENTS by default
	Registry *connectors.Registry
	Logger   *slog.Logger
	// DrainTimeout bounds how long shutdown waits for in-flight deliveries.
	DrainTimeout time.Duration
	// OnRecord, if set, sees every sync log record after it is stored.
	OnRecord func(synclog.Record)

	metrics *instruments
}

// Pipeline runs every connector's Runner.
type Pipeline struct {
	js      jetstream.JetStream
	runners []*Runner
	log     *slog.Logger
	gauges  metric.Registration
}

// New provisions a consumer per connector. Nothing is consumed until Run.
func New(ctx context.Context, o Options, conns []config.Connector) (*Pipeline, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	o.metrics = newInstruments()
	p := &Pipeline{log: o.Logger, js: o.JS}
	for i := range conns {
		r, err := newRunner(ctx, &o, &conns[i])
		if err != nil {
			for _, done := range p.runners {
				_ = done.conn.Close()
			}
			return nil, err
		}
		p.runners = append(p.runners, r)
	}
	if err := p.registerGauges(o.JS); err != nil {
		p.log.Warn("gauges not registered", "err", err)
	}
	return p, nil
}

// Run consumes until ctx ends and every runner has drained. A runner that
// fails (its consumer deleted under it) is reported; the others go on.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.runners))
	for i, r := range p.runners {
		wg.Go(func() {
			if errs[i] = r.Run(ctx); errs[i] != nil {
				p.log.Error("connector stopped", "connector", r.cfg.Name, "err", errs[i])
			}
		})
	}
	wg.Wait()
	if p.gauges != nil {
		_ = p.gauges.Unregister()
	}
	return errors.Join(errs...)
}
