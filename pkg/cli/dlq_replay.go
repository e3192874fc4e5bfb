package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

func newDLQReplay() *cobra.Command {
	var f dlqFlags
	var dryRun bool
	var rate, mapping string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Send dead letters back through their own connector",
		Example: `  extsync dlq replay --connector court-schedule --since 10h --rate 50/s
  extsync dlq replay --id 01a20626-7d63-76ab-bb65-677530be5514
  extsync dlq replay --all --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, every, err := replayOptions(&f, rate)
			if err != nil {
				return err
			}
			if mapping != deadletter.MappingCurrent && mapping != deadletter.MappingOriginal {
				return usageError{fmt.Errorf("--mapping %q: want original or current", mapping)}
			}
			return withJS(cmd, "extsync-dlq", func(ctx context.Context, js jetstream.JetStream) error {
				if err := f.checkConnector(ctx, js); err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				a := deadletter.Action{Filter: filter, Every: every, Mapping: mapping}
				if !dryRun {
					return replay(ctx, js, a, out, cmd.ErrOrStderr())
				}
				entries, err := deadletter.PlanReplay(ctx, js, filter)
				if err != nil {
					return err
				}
				fmt.Fprintf(f.saying(cmd), "would replay %s (dry run: nothing sent)\n", count(len(entries), "dead letter", "dead letters"))
				return printEntries(out, entries, f.json)
			})
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&f.all, "all", false, "replay every dead letter (required when no filter is given)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say how many and which would be sent; send nothing")
	cmd.Flags().StringVar(&mapping, "mapping", deadletter.MappingCurrent,
		"original: the mapping each event was first sent with (the sync log and dead letter record its version); current: today's")
	cmd.Flags().StringVar(&rate, "rate", "", "cap the replay, e.g. 50/s, so a just-recovered system is not flooded")
	return cmd
}

func replayOptions(f *dlqFlags, rate string) (deadletter.Filter, time.Duration, error) {
	if !f.selective() && !f.all {
		return deadletter.Filter{}, 0, usageError{errNothingSelected}
	}
	filter, err := f.filter()
	if err != nil {
		return filter, 0, err
	}
	var every time.Duration
	if rate != "" {
		r, err := config.ParseRate(rate)
		if err != nil {
			return filter, 0, usageError{fmt.Errorf("--rate: %w", err)}
		}
		every = r.Per / time.Duration(r.N)
	}
	return filter, every, nil
}

func replay(ctx context.Context, js jetstream.JetStream, a deadletter.Action, out, progress io.Writer) error {
	start := time.Now()
	last := start
	a.Actor = operator()
	a.Progress = func(done, total int) {
		if time.Since(last) > time.Second || done == total {
			fmt.Fprintf(progress, "replayed %d/%d\n", done, total)
			last = time.Now()
		}
	}
	res, err := deadletter.RunReplay(ctx, js, a)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted: %w; what was sent is recorded, the rest stay parked", err)
		}
		return err
	}
	if res.Sent() == 0 && res.Gone == 0 {
		fmt.Fprintln(out, "no dead letter matches: nothing to replay")
		return nil
	}
	fmt.Fprintf(out, "replayed %s in %s; each goes through its connector again (see `extsync log`)\n",
		count(res.Sent(), "dead letter", "dead letters"), time.Since(start).Round(time.Millisecond))
	if res.Gone > 0 {
		fmt.Fprintf(out, "%d %s replayed or purged by someone else meanwhile and not sent again\n", res.Gone, plural(res.Gone, "was", "were"))
	}
	return nil
}

func newDLQPurge() *cobra.Command {
	var f dlqFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:     "purge",
		Short:   "Delete dead letters for good",
		Example: "  extsync dlq purge --connector old-clinic --status permanent --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !f.selective() && !f.all {
				return usageError{errNothingSelected}
			}
			filter, err := f.filter()
			if err != nil {
				return err
			}
			return withJS(cmd, "extsync-dlq", func(ctx context.Context, js jetstream.JetStream) error {
				if err := f.checkConnector(ctx, js); err != nil {
					return err
				}
				if dryRun {
					entries, err := deadletter.Select(ctx, js, filter)
					if err != nil {
						return err
					}
					fmt.Fprintf(f.saying(cmd), "would purge %s (dry run: nothing deleted)\n", count(len(entries), "dead letter", "dead letters"))
					return printEntries(cmd.OutOrStdout(), entries, f.json)
				}
				n, err := deadletter.PurgeSelected(ctx, js, deadletter.Action{Filter: filter, Actor: operator()})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "purged %s\n", count(n, "dead letter", "dead letters"))
				return nil
			})
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&f.all, "all", false, "purge every dead letter (required when no filter is given)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say how many and which would be deleted; delete nothing")
	return cmd
}
