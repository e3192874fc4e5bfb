package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/internal/reconcile"
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
	var asJSON bool
	cmd := &cobra.Command{
		Use: "show SEQ|EVENT-ID", Short: "Show both versions, the base and the merge of a conflict, field by field", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJS(cmd, "extsync-conflicts", func(ctx context.Context, js jetstream.JetStream) error {
				c, err := findConflict(ctx, js, args[0])
				if err != nil {
					return err
				}
				c.EventBody, c.EventHeader = nil, nil
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), c)
				}
				showConflict(cmd.OutOrStdout(), c)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "the conflict as one JSON object, for scripts")
	return cmd
}

// showConflict prints a conflict with its four versions side by side, one
// line per field (nested fields dotted), the colliding ones marked "!".
func showConflict(w io.Writer, c reconcile.Conflict) {
	fmt.Fprintf(w, "conflict %d: entity %s, version %s (connector %s, event %s)\n", c.Seq, c.Entity, c.Version, c.Connector, c.EventID)
	fmt.Fprintf(w, "parked %s: %s\n\n", c.Parked.Format(time.RFC3339), c.Error)
	sides := []map[string]string{flatten(c.Local), flatten(c.Remote), flatten(c.Base), flatten(c.Merged)}
	fields := map[string]bool{}
	for _, side := range sides {
		for k := range side {
			fields[k] = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FIELD\tOURS\tTHEIRS\tBASE\tMERGED")
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		mark := "  "
		if slices.Contains(c.Fields, f) {
			mark = "! "
		}
		row := []string{mark + f}
		for _, side := range sides {
			v, ok := side[f]
			if !ok {
				v = "-"
			}
			row = append(row, v)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n! both sides changed it since the base. Resolve with\n  extsync conflicts resolve %d --take local|remote|merged\n", c.Seq)
}

// flatten renders a record's fields as dotted paths to JSON values.
func flatten(m map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if obj, ok := v.(map[string]any); ok && len(obj) > 0 {
			for k, sub := range obj {
				walk(prefix+k+".", sub)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		out[strings.TrimSuffix(prefix, ".")] = string(b)
	}
	for k, v := range m {
		walk(k+".", v)
	}
	return out
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
