package service

import (
	"context"
	"fmt"
	"os"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// scheduler runs the connectors' verification rounds (`verify:`); one
// replica runs each round.
func (svc *Service) scheduler(o Options, fixed []config.Connector) *coherence.Scheduler {
	host, _ := os.Hostname()
	s := &coherence.Scheduler{JS: svc.js, Kinds: o.Kinds, Stream: svc.settings.Stream, Replicas: svc.settings.Replicas,
		Holder: fmt.Sprintf("%s:%d", host, os.Getpid()), Log: svc.log}
	s.Connectors = func(context.Context) []config.Connector { return fixed }
	if svc.live != nil {
		s.Connectors = svc.live.connectors
	}
	return s
}

// connectors loads the connector store's connectors as this instance
// runs them; one it cannot load is left out (the reloader reports it).
func (l *reloader) connectors(ctx context.Context) []config.Connector {
	entries, err := l.reg.List(ctx)
	if err != nil {
		return nil
	}
	var out []config.Connector
	for _, e := range entries {
		if c, err := connstore.Load(e, l.env, l.check); err == nil {
			out = append(out, *c)
		}
	}
	return out
}
