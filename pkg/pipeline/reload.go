package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/hms/extsync/pkg/config"
)

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
