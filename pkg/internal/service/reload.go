package service

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

// reloader follows the connector store for one instance.
type reloader struct {
	reg   *connstore.Store
	env   config.LookupEnv
	check config.Checker
	log   *slog.Logger

	mu      sync.Mutex
	applied map[string]uint64   // connector → KV revision running here
	refused map[string]rejected // connector → the revision this instance could not take
}

// rejected is a store revision this instance could not run, and why.
type rejected struct {
	revision uint64
	err      string
}

// startReload applies the serve file's connectors to the bucket, then
// loads everything the bucket holds. An entry that does not validate here
// (another instance's file, a variable this instance lacks) is logged and
// skipped, not fatal: the other connectors still run.
func startReload(ctx context.Context, js jetstream.JetStream, o Options, replicas int) (*reloader, []config.Connector, error) {
	reg, err := connstore.Open(ctx, js, replicas)
	if err != nil {
		return nil, nil, err
	}
	// A change the file makes (a first start, or a file that differs from
	// what was applied live since) is an operator's action like an apply.
	names := slices.Sorted(maps.Keys(o.Sources))
	if _, err := reg.Apply(ctx, js, names, o.Sources, connstore.ProcessActor("serve")); err != nil {
		return nil, nil, err
	}
	entries, err := reg.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	l := &reloader{reg: reg, env: o.Env, check: o.Check, log: o.Logger,
		applied: map[string]uint64{}, refused: map[string]rejected{}}
	var conns []config.Connector
	for _, e := range entries {
		c, err := connstore.Load(e, o.Env, o.Check)
		if err != nil {
			l.log.Error("stored connector not loaded; fix it and apply again", "connector", e.Name,
				"revision", e.Revision, "err", err)
			l.refused[e.Name] = rejected{e.Revision, err.Error()}
			continue
		}
		conns = append(conns, *c)
		l.applied[e.Name] = e.Revision
	}
	return l, conns, nil
}

// follow applies every later change to p until ctx ends.
func (l *reloader) follow(ctx context.Context, p *pipeline.Pipeline) {
	err := l.reg.Watch(ctx, func(e connstore.Entry, removed bool) {
		if err := l.apply(ctx, p, e, removed); err != nil {
			l.log.Error("connector store change not applied; the connector keeps its previous state",
				"connector", e.Name, "revision", e.Revision, "err", err)
			l.mu.Lock()
			l.refused[e.Name] = rejected{e.Revision, err.Error()}
			l.mu.Unlock()
		}
	})
	if err != nil && ctx.Err() == nil {
		l.log.Error("connector store no longer followed; restart to pick up changes", "err", err)
	}
}

func (l *reloader) apply(ctx context.Context, p *pipeline.Pipeline, e connstore.Entry, removed bool) error {
	l.mu.Lock()
	rev, known := l.applied[e.Name]
	bad, refused := l.refused[e.Name]
	l.mu.Unlock()
	if known && e.Revision <= rev || refused && e.Revision <= bad.revision {
		return nil // loaded or refused at start, or already seen
	}
	if removed {
		l.forget(e.Name)
		if !known {
			return nil
		}
		if err := p.Remove(e.Name); err != nil {
			return err
		}
		l.log.Info("connector removed from the connector store: stopped", "connector", e.Name)
		return nil
	}
	c, err := connstore.Load(e, l.env, l.check)
	if err != nil {
		return err
	}
	if err := p.Upsert(ctx, *c); err != nil {
		return fmt.Errorf("start connector: %w", err)
	}
	l.mu.Lock()
	l.applied[e.Name] = e.Revision
	delete(l.refused, e.Name)
	l.mu.Unlock()
	l.log.Info("connector applied from the connector store", "connector", e.Name, "revision", e.Revision)
	return nil
}

func (l *reloader) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.applied, name)
	delete(l.refused, name)
}

// annotate adds to sts the connector store revision each connector runs here and
// why this instance refused a later one; a connector it could not start
// at all is listed, not running, with that reason.
func (l *reloader) annotate(sts []pipeline.ConnectorStatus) []pipeline.ConnectorStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	for i := range sts {
		st := &sts[i]
		seen[st.Name] = true
		st.Revision = l.applied[st.Name]
		if bad, ok := l.refused[st.Name]; ok {
			st.RegistryError = fmt.Sprintf("revision %d not applied here: %s", bad.revision, bad.err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.refused)) {
		if !seen[name] {
			bad := l.refused[name]
			sts = append(sts, pipeline.ConnectorStatus{Name: name, Subjects: []string{},
				RegistryError: fmt.Sprintf("revision %d not applied here: %s", bad.revision, bad.err)})
		}
	}
	return sts
}
