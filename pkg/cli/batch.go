package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/internal/pipeline"
)

func newBatch() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "batch",
		Short: "Batch connectors (mode: batch)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run CONNECTOR",
		Short: "Send a batch connector's waiting events now, without waiting for its schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJS(cmd, "extsync-batch", func(ctx context.Context, js jetstream.JetStream) error {
				st, err := batchRequest(ctx, js.Conn(), pipeline.BatchRunSubject, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "batch run of %s asked for: %d events waiting, %d being sent; last run: %s\n",
					args[0], st.Waiting, st.Sending, orNone(st.LastResult))
				return nil
			})
		},
	})
	return cmd
}

// batchRequest asks the instances running connector (the first to
// answer speaks for them; a run request reaches all).
func batchRequest(ctx context.Context, nc *nats.Conn, prefix, connector string) (pipeline.BatchStatus, error) {
	var st pipeline.BatchStatus
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, prefix+connector, nil)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
		return st, fmt.Errorf("no running instance has a batch connector %q (is it mode: batch, and is serve running?)", connector)
	}
	if err != nil {
		return st, fmt.Errorf("batch %s: %w", connector, err)
	}
	return st, json.Unmarshal(m.Data, &st)
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}
