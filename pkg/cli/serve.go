package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/console"
	"github.com/hms/extsync/pkg/internal/service"
	"github.com/hms/extsync/pkg/telemetry"
)

// runAll runs fns until ctx ends; the first to fail stops the others.
func runAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func shutdownTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry not flushed", "err", err)
	}
}

func newServe(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run every connector in the connectors file until SIGINT/SIGTERM",
		Long: `Run every connector in the connectors file (EXTSYNC_CONNECTORS) until
SIGINT or SIGTERM, then stop pulling, finish and settle in-flight deliveries
(up to EXTSYNC_SHUTDOWN_TIMEOUT) and exit. With EXTSYNC_NATS_URL empty an
embedded JetStream server stores events in EXTSYNC_DATA_DIR and listens on
EXTSYNC_NATS_LISTEN, so other processes can publish to it. Once it delivers
it logs "ready" with its NATS URL and admin address, and writes them to
EXTSYNC_READY_FILE when set: with port 0 in EXTSYNC_NATS_LISTEN or
EXTSYNC_HTTP_ADDR that is how a supervisor or test learns the ports.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := config.LoadSettings()
			if err != nil {
				return err
			}
			log, err := newLogger(cmd.ErrOrStderr(), s)
			if err != nil {
				return err
			}
			release, err := useFiles(s, s.Connectors)
			if err != nil {
				return err
			}
			defer release()
			reg := o.kinds
			file, sources, err := loadSources(s.Connectors, nil, checkWith(reg))
			if err != nil {
				return err
			}
			tel, err := telemetry.Setup(cmd.Context(), "extsync", o.version)
			if err != nil {
				return err
			}
			defer shutdownTelemetry(tel, log)
			svc, err := service.Start(cmd.Context(), s, file.Connectors, service.Options{
				Kinds: reg, Logger: log, Sources: sources, Check: checkWith(reg),
			})
			if err != nil {
				return err
			}
			adm, err := admin.New(admin.Options{Addr: s.HTTPAddr, Metrics: tel.Metrics, Ready: svc.Ready, Token: s.AdminToken.Reveal(), TokenFile: s.AdminTokenFile, ViewerToken: s.ViewerToken.Reveal(),
				TLSCert: s.HTTPTLSCert, TLSKey: s.HTTPTLSKey})
			if err != nil {
				return err
			}
			adm.MountOps(admin.Ops{JS: svc.JetStream(), Connectors: connectorViews(svc)})
			adm.MountConnectorStore(admin.StoreOps{JS: svc.JetStream(), Replicas: s.Replicas, Check: checkWith(reg)})
			con := console.Mount(adm, console.Options{JS: svc.JetStream(), Stream: s.Stream, Status: svc.Status, TraceURL: s.TraceURL, Replicas: s.Replicas, Check: checkWith(reg), Logger: log})
			log.Info("extsync serving", "connectors", len(file.Connectors), "nats", svc.NATSURL(),
				"stream", s.Stream, "admin", adm.URL())
			report := readyReport{NATSURL: svc.NATSURL(), HTTPAddr: adm.Addr(), PID: os.Getpid()}
			if s.ReadyFile != "" {
				defer func() { _ = os.Remove(s.ReadyFile) }()
			}
			// The console's replays stop with the server (con.Run closes it).
			return runAll(cmd.Context(), svc.Run, adm.Run, con.Run, func(ctx context.Context) error {
				return announceReady(ctx, svc.Ready, report, s.ReadyFile, log)
			})
		},
	}
}

// connectorViews lets the admin API list the service's connectors.
func connectorViews(svc *service.Service) func(context.Context) []admin.ConnectorView {
	return func(ctx context.Context) []admin.ConnectorView {
		sts := svc.Status(ctx)
		out := make([]admin.ConnectorView, len(sts))
		for i, st := range sts {
			out[i] = admin.ConnectorView{Name: st.Name, Status: st}
		}
		return out
	}
}
