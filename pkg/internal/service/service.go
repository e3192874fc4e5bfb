package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/pkg/synclog"
)

// Service is extsync running.
type Service struct {
	settings config.Settings
	log      *slog.Logger
	ns       *server.Server // nil with an external NATS
	dirLock  *os.File       // EXTSYNC_DATA_DIR's lock while ns runs
	nc       *nats.Conn
	js       jetstream.JetStream
	pipeline *pipeline.Pipeline
	live     *reloader // nil when the connectors are fixed at start
	tallies  tallies
	summary  time.Duration // 0: no summary lines
	verify   *coherence.Scheduler
	snapshot *snapshotWriter
}

// Options beyond the settings.
type Options struct {
	Kinds    *connectors.Kinds
	Logger   *slog.Logger
	OnRecord func(synclog.Record)
	// Sources, when set, switches on the connector store: these documents
	// (one connector each, see connstore.Split) are applied to the KV
	// bucket, and the service runs and follows what the bucket holds.
	// conns is then ignored. Env and Check validate the stored entries.
	Sources map[string][]byte
	Env     config.LookupEnv
	Check   config.Checker
	// SummaryEvery is how often each connector's summary line is logged
	// (at info: delivered, retried, dead-lettered, lag); zero is
	// DefaultSummaryEvery, negative logs none.
	SummaryEvery time.Duration
	// NoSnapshotWriter leaves the snapshot writer out, so `extsync bench`
	// can measure the pipeline and the writer each alone. Serve always
	// runs it: connectors starting from the snapshot wait for it.
	NoSnapshotWriter bool
}

// Start brings up the broker connection, streams and consumers. Call Run
// to start delivering; Run also cleans up.
func Start(ctx context.Context, s config.Settings, conns []config.Connector, o Options) (*Service, error) {
	svc := &Service{settings: s, log: o.Logger, summary: o.SummaryEvery}
	if svc.summary == 0 {
		svc.summary = DefaultSummaryEvery
	}
	onRecord := o.OnRecord
	o.OnRecord = func(r synclog.Record) {
		svc.tallies.record(r)
		if onRecord != nil {
			onRecord(r)
		}
	}
	if err := svc.connect(ctx); err != nil {
		return nil, err
	}
	err := svc.provision(ctx)
	if err != nil {
		svc.close()
		return nil, err
	}
	if o.Sources != nil {
		if svc.live, conns, err = startReload(ctx, svc.js, o, s.Replicas); err != nil {
			svc.close()
			return nil, err
		}
	}
	if !o.NoSnapshotWriter {
		if err := svc.startSnapshot(ctx, conns); err != nil {
			svc.close()
			return nil, err
		}
	}
	p, err := pipeline.New(ctx, pipeline.Options{
		JS: svc.js, Stream: s.Stream, Kinds: o.Kinds, Logger: o.Logger,
		DrainTimeout: s.Drain, OnRecord: o.OnRecord, Replicas: s.Replicas, QueueBytes: int64(s.QueueBytes),
	}, conns)
	if err != nil {
		svc.close()
		return nil, err
	}
	svc.pipeline = p
	if svc.snapshot != nil {
		svc.snapshot.pipeline.Store(p)
	}
	if err := svc.answerStatus(); err != nil {
		svc.close()
		return nil, err
	}
	svc.verify = svc.scheduler(o, conns)
	return svc, nil
}

func (svc *Service) connect(ctx context.Context) error {
	s := svc.settings
	url := s.NATSURL
	if url == "" {
		lock, err := lockDataDir(s.DataDir)
		if err != nil {
			return err
		}
		svc.dirLock = lock
		ns, err := broker.StartEmbedded(broker.EmbeddedOptions{
			Listen: s.NATSListen, StoreDir: s.DataDir, SyncAlways: s.NATSSync == "always",
		})
		if err != nil {
			svc.close()
			return err
		}
		svc.ns, url = ns, ns.ClientURL()
		svc.log.Info("embedded NATS JetStream started", "url", url, "store", s.DataDir, "sync", syncMode(s))
	}
	nc, err := broker.Connect(ctx, url, "extsync", broker.Auth{
		User: s.NATSUser, Password: s.NATSPassword.Reveal(), Token: s.NATSToken.Reveal(),
		CredsFile: s.NATSCreds, NKeyFile: s.NATSNKey,
		TLSCert: s.NATSTLSCert, TLSKey: s.NATSTLSKey, CA: s.NATSTLSCA,
		PasswordFile: s.NATSPasswordFile, Log: svc.log,
	})
	if err != nil {
		svc.close()
		return err
	}
	svc.nc = nc
	if svc.js, err = jetstream.New(nc); err != nil {
		svc.close()
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

func syncMode(s config.Settings) string {
	if s.NATSSync == "always" {
		return "always (fsync every write)"
	}
	return "default (flush every 2 min)"
}

func (svc *Service) provision(ctx context.Context) error {
	n := max(svc.settings.Replicas, 1)
	if err := broker.EnsureEventStream(ctx, svc.js, svc.settings.Stream, n); err != nil {
		return err
	}
	if age := svc.settings.StreamMaxAge; age > 0 {
		prev, changed, err := broker.SetEventStreamMaxAge(ctx, svc.js, svc.settings.Stream, age)
		if err != nil {
			return err
		}
		if changed {
			svc.log.Info("event stream max age set (EXTSYNC_STREAM_MAX_AGE)", "stream", svc.settings.Stream,
				"max_age", age, "was", prev)
		}
	}
	if err := broker.EnsureStream(ctx, svc.js, deadletter.StreamConfig(n)); err != nil {
		return err
	}
	if err := broker.EnsureStream(ctx, svc.js, deadletter.ReplayStreamConfig(n)); err != nil {
		return err
	}
	return broker.EnsureStream(ctx, svc.js, synclog.StreamConfig(svc.settings.LogMaxAge, n))
}

// JetStream returns the service's JetStream handle.
func (svc *Service) JetStream() jetstream.JetStream { return svc.js }

// NATSURL is where other processes reach this service's NATS.
func (svc *Service) NATSURL() string { return svc.nc.ConnectedUrlRedacted() }

// Ready reports whether the service can deliver: connected to NATS, its
// streams reachable, every connector consuming, and no connector of the
// store left unrun here because this instance could not load it.
func (svc *Service) Ready(ctx context.Context) error {
	if !svc.nc.IsConnected() {
		return fmt.Errorf("not connected to NATS (%s)", svc.nc.Status())
	}
	for _, name := range []string{svc.settings.Stream, deadletter.Stream, deadletter.ReplayStream, synclog.Stream} {
		if _, err := svc.js.Stream(ctx, name); err != nil {
			if !svc.nc.IsConnected() { // the server went away while we asked
				return fmt.Errorf("not connected to NATS (%s)", svc.nc.Status())
			}
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	if !svc.pipeline.Running() {
		return errors.New("connectors not consuming yet (starting, or stopped: see the log)")
	}
	if svc.live != nil {
		return svc.live.notRunnable()
	}
	return nil
}

// Status reports every connector of this instance.
func (svc *Service) Status(ctx context.Context) []pipeline.ConnectorStatus {
	sts := svc.pipeline.Status(ctx)
	if svc.live != nil {
		sts = svc.live.annotate(sts)
	}
	// The last verification rounds are shown when they can be read at
	// once; a status answer never waits on them.
	vctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	for i := range sts {
		if vctx.Err() != nil {
			break
		}
		if r, err := coherence.LastRound(vctx, svc.js, sts[i].Name); err == nil && r != nil {
			sts[i].Verify = &pipeline.VerifyResult{Trigger: r.Trigger, Finished: r.Finished, Checked: r.Checked,
				InStep: r.InStep, Drifted: r.Drifted, Missing: r.Missing, Repaired: r.Repaired, Error: r.Error}
		}
	}
	return sts
}

// Run delivers until ctx ends, then drains and closes everything.
func (svc *Service) Run(ctx context.Context) error {
	defer svc.close()
	if svc.live != nil {
		watchCtx, stopWatch := context.WithCancel(ctx)
		followed := make(chan struct{})
		go func() {
			defer close(followed)
			svc.live.follow(watchCtx, svc.pipeline)
		}()
		// Stopped and awaited before the connection closes, so a change
		// being applied does not go on against a closed connection.
		defer func() { stopWatch(); <-followed }()
	}
	if svc.summary > 0 {
		sumCtx, stopSum := context.WithCancel(ctx)
		summarized := make(chan struct{})
		go func() {
			defer close(summarized)
			svc.summarize(sumCtx, svc.summary)
		}()
		defer func() { stopSum(); <-summarized }()
	}
	verifyCtx, stopVerify := context.WithCancel(ctx)
	verified := make(chan struct{})
	go func() {
		defer close(verified)
		if err := svc.verify.Run(verifyCtx); err != nil {
			svc.log.Error("scheduled verification not running", "err", err)
		}
	}()
	defer func() { stopVerify(); <-verified }() // before the connection closes
	err := svc.pipeline.Run(ctx)
	svc.log.Info("pipeline drained")
	return err
}

func (svc *Service) close() {
	svc.snapshot.close()
	if svc.nc != nil {
		_ = svc.nc.FlushTimeout(5 * time.Second) // the last acks reach the server
		svc.nc.Close()
	}
	if svc.ns != nil {
		svc.ns.Shutdown()
		svc.ns.WaitForShutdown()
	}
	unlockDataDir(svc.dirLock)
	svc.dirLock = nil
}
