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
	"github.com/hms/extsync/pkg/pipeline"
	"github.com/hms/extsync/pkg/registry"
)

// liveRegistry follows the KV registry for one instance.
type liveRegistry struct {
	reg   *registry.Registry
	env   config.LookupEnv
	check config.Checker
	log   *slog.Logger

	mu      sync.Mutex
	applied map[string]uint64   // connector → KV revision running here
	refused map[string]rejected // connector → the revision this instance could not take
}

// rejected is a registry revision this instance could not run, and why.
type rejected struct {
	revision uint64
	err      string
}

// startRegistry applies the serve file's connectors to the bucket, then
// loads everything the bucket holds. An entry that does not validate here
// (another instance's file, a variable this instance lacks) is logged and
// skipped, not fatal: the other connectors still run.
func startRegistry(ctx context.Context, js jetstream.JetStream, o Options, replicas int) (*liveRegistry, []config.Connector, error) {
	reg, err := registry.Open(ctx, js, replicas)
	if err != nil {
		return nil, nil, err
	}
	// A change the file makes (a first start, or a file that differs from
	// what was applied live since) is an operator's action like an apply.
	names := slices.Sorted(maps.Keys(o.Sources))
	if _, err := reg.Apply(ctx, js, names, o.Sources, registry.ProcessActor("serve")); err != nil {
		return nil, nil, err
	}
	entries, err := reg.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	l := &liveRegistry{reg: reg, env: o.Env, check: o.Check, log: o.Logger,
		applied: map[string]uint64{}, refused: map[string]rejected{}}
	var conns []config.Connector
	for _, e := range entries {
		c, err := registry.Load(e, o.Env, o.Check)
		if err != nil {
			l.log.Error("registry entry not loaded; fix it and apply again", "connector", e.Name,
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
func (l *liveRegistry) follow(ctx context.Context, p *pipeline.Pipeline) {
	err := l.reg.Watch(ctx, func(e registry.Entry, removed bool) {
		if err := l.apply(ctx, p, e, removed); err != nil {
			l.log.Error("registry change not applied; the connector keeps its previous state",
				"connector", e.Name, "revision", e.Revision, "err", err)
			l.mu.Lock()
			l.refused[e.Name] = rejected{e.Revision, err.Error()}
			l.mu.Unlock()
		}
	})
	if err != nil && ctx.Err() == nil {
		l.log.Error("registry no longer followed; restart to pick up changes", "err", err)
	}
}

func (l *liveRegistry) apply(ctx context.Context, p *pipeline.Pipeline, e registry.Entry, removed bool) error {
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
		l.log.Info("connector removed from the registry: stopped", "connector", e.Name)
		return nil
	}
	c, err := registry.Load(e, l.env, l.check)
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
	l.log.Info("connector applied from the registry", "connector", e.Name, "revision", e.Revision)
	return nil
}

func (l *liveRegistry) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.applied, name)
	delete(l.refused, name)
}

// annotate adds to sts the registry revision each connector runs here and
// why this instance refused a later one; a connector it could not start
// at all is listed, not running, with that reason.
func (l *liveRegistry) annotate(sts []pipeline.ConnectorStatus) []pipeline.ConnectorStatus {
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
