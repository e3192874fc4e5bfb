package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/reconcile"
)

func newConflicts() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "Conflicts parked for a person (conflict rule manual, or a merge no rule settles)",
	}
	var connector string
	var asJSON bool
	ls := &cobra.Command{
		Use: "ls", Short: "List parked conflicts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withJS(cmd, "extsync-conflicts", func(ctx context.Context, js jetstream.JetStream) error {
				cs, err := reconcile.ListConflicts(ctx, js, connector)
				if err != nil {
					return err
				}
				if asJSON {
					if cs == nil {
						cs = []reconcile.Conflict{}
					}
					return writeJSON(cmd.OutOrStdout(), cs)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tCONNECTOR\tENTITY\tVERSION\tFIELDS\tPARKED\tEVENT")
				for _, c := range cs {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Seq, c.Connector, c.Entity, c.Version,
						strings.Join(c.Fields, ","), c.Parked.Format(time.RFC3339), c.EventID)
				}
				return tw.Flush()
			})
		},
	}
	ls.Flags().StringVar(&connector, "connector", "", "only this connector")
	ls.Flags().BoolVar(&asJSON, "json", false, "JSON output for scripts")
	cmd.AddCommand(ls, newConflictShow(), newConflictResolve())
	return cmd
}

// findConflict returns the parked conflict named by its sequence or event id.
func findConflict(ctx context.Context, js jetstream.JetStream, id string) (reconcile.Conflict, error) {
	cs, err := reconcile.ListConflicts(ctx, js, "")
	if err != nil {
		return reconcile.Conflict{}, err
	}
	for _, c := range cs {
		if c.EventID == id || strconv.FormatUint(c.Seq, 10) == id {
			return c, nil
		}
	}
	return reconcile.Conflict{}, fmt.Errorf("no parked conflict with sequence or event id %q; nothing was changed", id)
}

func newConflictShow() *cobra.Command {
	return &cobra.Command{
		Use: "show SEQ|EVENT-ID", Short: "Show both versions, the base and the merge of a conflict", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJS(cmd, "extsync-conflicts", func(ctx context.Context, js jetstream.JetStream) error {
				c, err := findConflict(ctx, js, args[0])
				if err != nil {
					return err
				}
				c.EventBody, c.EventHeader = nil, nil
				return writeJSON(cmd.OutOrStdout(), c)
			})
		},
	}
}

func newConflictResolve() *cobra.Command {
	var take string
	cmd := &cobra.Command{
		Use:   "resolve SEQ|EVENT-ID --take local|remote|merged",
		Short: "Finish a conflict: send ours, keep theirs, or send the merge (ours where both changed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if take != reconcile.TakeLocal && take != reconcile.TakeRemote && take != reconcile.TakeMerged {
				return usageError{errors.New("--take: want local, remote or merged")}
			}
			return withJS(cmd, "extsync-conflicts", func(ctx context.Context, js jetstream.JetStream) error {
				c, err := findConflict(ctx, js, args[0])
				if err != nil {
					return err
				}
				if err := reconcile.Resolve(ctx, js, c, take, operator()); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "conflict %d of %s (%s) resolved: %s\n", c.Seq, c.Entity, c.Connector, take)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&take, "take", "", "local, remote or merged")
	return cmd
}
