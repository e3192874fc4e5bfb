package service

import (
	"context"
	"sync/atomic"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// snapshotWriter runs the snapshot writer from Start (a connector with
// `start: snapshot` waits on it while the pipeline is built) until the
// service closes, before the connection does.
type snapshotWriter struct {
	pipeline atomic.Pointer[pipeline.Pipeline]
	initial  []snapshot.Spec
	stop     context.CancelFunc
	done     chan struct{}
}

// startSnapshot starts the writer; conns are the connectors until the
// pipeline runs, whose connectors (as the store changes them) it asks
// for the key and version paths to keep entries for.
func (svc *Service) startSnapshot(ctx context.Context, conns []config.Connector) error {
	c, err := snapshot.Ensure(ctx, svc.js, svc.settings.Stream, svc.settings.Replicas)
	if err != nil {
		return err
	}
	sw := &snapshotWriter{initial: snapshot.Specs(conns), done: make(chan struct{})}
	w, err := snapshot.NewWriter(ctx, svc.js, c, sw.specs, svc.log)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	sw.stop = stop
	svc.snapshot = sw
	go func() {
		defer close(sw.done)
		_ = w.Run(runCtx)
	}()
	return nil
}

func (sw *snapshotWriter) specs() []snapshot.Spec {
	if p := sw.pipeline.Load(); p != nil {
		return snapshot.Specs(p.Connectors())
	}
	return sw.initial
}

// close stops the writer once its batch under way is written and acked.
func (sw *snapshotWriter) close() {
	if sw != nil {
		sw.stop()
		<-sw.done
	}
}
