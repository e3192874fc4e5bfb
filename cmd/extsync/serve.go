package main

import (
	"github.com/spf13/cobra"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/service"
)

func newServe() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run every connector in the connectors file until SIGINT/SIGTERM",
		Long: `Run every connector in the connectors file (EXTSYNC_CONNECTORS) until
SIGINT or SIGTERM, then stop pulling, finish and settle in-flight deliveries
(up to EXTSYNC_SHUTDOWN_TIMEOUT) and exit. With EXTSYNC_NATS_URL empty an
embedded JetStream server stores events in EXTSYNC_DATA_DIR and listens on
EXTSYNC_NATS_LISTEN, so other processes can publish to it.`,
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
			reg := catalog.Default()
			file, err := config.LoadFile(s.Connectors, nil, checkWith(reg))
			if err != nil {
				return err
			}
			svc, err := service.Start(cmd.Context(), s, file.Connectors, service.Options{Registry: reg, Logger: log})
			if err != nil {
				return err
			}
			log.Info("extsync serving", "connectors", len(file.Connectors), "nats", svc.NATSURL(), "stream", s.Stream)
			return svc.Run(cmd.Context())
		},
	}
}
