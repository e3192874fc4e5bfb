package cli

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/internal/demo"
)

func newDemo() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show the central use case end to end on this machine (nothing else needed)",
		Long: `Start an embedded JetStream server, a court scheduling simulator on loopback
and the pipeline; publish an "Attorney Rotation" workflow approval and three
hearing updates; narrate each event from publish to the court's answer,
including a transient failure that is retried and a rejected event that is
dead-lettered; end with a summary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.AddCommand(newDemoCourt())
	return cmd
}

func newDemoCourt() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "court",
		Short: "Run only the court scheduling simulator (PUT /api/v1/workflows/{id}, /api/v1/hearings/{id})",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := &http.Server{Addr: addr, Handler: demo.NewCourt(), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				<-cmd.Context().Done()
				_ = srv.Close()
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "court simulator on %s (bearer token %q)\n", addr, demo.CourtToken)
			if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "listen address")
	return cmd
}
