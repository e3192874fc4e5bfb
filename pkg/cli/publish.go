package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/publish"
	"github.com/hms/extsync/pkg/telemetry"
)

func newPublish(o *options) *cobra.Command {
	var id, key, version, source string
	cmd := &cobra.Command{
		Use:     "publish SUBJECT JSON",
		Short:   "Publish an event the way platform modules do (CloudEvent, Nats-Msg-Id, PubAck)",
		Example: `  extsync publish hms.workflow.updated '{"id":"wf-1","name":"Attorney Rotation","status":"approved"}'`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := config.LoadSettings()
			if err != nil {
				return err
			}
			// The PRODUCER span goes to the same backend as serve's spans.
			tel, err := telemetry.Setup(cmd.Context(), "extsync-publish", o.version)
			if err != nil {
				return err
			}
			defer shutdownTelemetry(tel, slog.Default())
			nc, js, err := connectJS(cmd.Context(), s, "extsync-publish")
			if err != nil {
				return err
			}
			defer nc.Close()
			var opts []publish.Option
			if id != "" {
				opts = append(opts, publish.WithID(id))
			}
			if key != "" {
				opts = append(opts, publish.WithKey(key))
			}
			if version != "" {
				opts = append(opts, publish.WithVersion(version))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			res, err := publish.New(js, source).Publish(ctx, args[0], args[1], opts...)
			if errors.Is(err, publish.ErrInvalid) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			dup := ""
			if res.Duplicate {
				dup = " (duplicate: already stored)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %s to %s as %s #%d%s\n", res.ID, args[0], res.Stream, res.Seq, dup)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "event id (default: a new UUIDv7); publishing the same id twice stores it once")
	cmd.Flags().StringVar(&key, "key", "", `entity key (default: the data's "id")`)
	cmd.Flags().StringVar(&version, "version", "", "entity version")
	cmd.Flags().StringVar(&source, "source", "extsync-cli", "CloudEvent source")
	return cmd
}
