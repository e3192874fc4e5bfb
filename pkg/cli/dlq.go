package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
)

// dlqFlags are the filters every dlq subcommand takes.
type dlqFlags struct {
	connector, since, until, status, reason string
	ids                                     []string
	json, all                               bool
}

func (f *dlqFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.connector, "connector", "", "only this connector's dead letters")
	fl.StringVar(&f.since, "since", "", "parked at or after: RFC 3339 time, or a duration ago (2h)")
	fl.StringVar(&f.until, "until", "", "parked at or before: RFC 3339 time, or a duration ago")
	fl.StringSliceVar(&f.ids, "id", nil, "event id or dead-letter sequence (repeatable, comma-separated)")
	fl.StringVar(&f.status, "status", "", "permanent or exhausted")
	fl.StringVar(&f.reason, "reason", "", "reason contains this text (case-insensitive)")
	fl.BoolVar(&f.json, "json", false, "JSON output for scripts")
}

func (f *dlqFlags) filter() (deadletter.Filter, error) {
	now := time.Now()
	since, err := parseWhen("since", f.since, now)
	if err != nil {
		return deadletter.Filter{}, err
	}
	until, err := parseWhen("until", f.until, now)
	if err != nil {
		return deadletter.Filter{}, err
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return deadletter.Filter{}, usageError{fmt.Errorf("--until %s is before --since %s", f.until, f.since)}
	}
	if f.status != "" && f.status != "permanent" && f.status != "exhausted" {
		return deadletter.Filter{}, usageError{fmt.Errorf("--status %q: want permanent or exhausted", f.status)}
	}
	return deadletter.Filter{Connector: f.connector, Since: since, Until: until, IDs: f.ids,
		Status: f.status, Reason: f.reason}, nil
}

// checkConnector fails on a --connector that names no connector the
// store holds and none with dead letters: a typo selects nothing, and
// "0 dead letters" would read as all clear.
func (f *dlqFlags) checkConnector(ctx context.Context, js jetstream.JetStream) error {
	if f.connector == "" {
		return nil
	}
	return deadletter.CheckConnector(ctx, js, f.connector)
}

// saying is where a sentence for people goes: stdout, or stderr when
// stdout is --json for a script.
func (f *dlqFlags) saying(cmd *cobra.Command) io.Writer {
	if f.json {
		return cmd.ErrOrStderr()
	}
	return cmd.OutOrStdout()
}

// selective says the filters narrow the selection; replay and purge of
// everything ask for --all.
func (f *dlqFlags) selective() bool {
	return f.connector != "" || f.since != "" || f.until != "" || len(f.ids) > 0 || f.status != "" || f.reason != ""
}

func newDLQ() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Dead letters: list, show, replay through their connector, purge",
		Long: `Dead letters are events a connector could not deliver (a permanent refusal,
or attempts exhausted), parked in EXTSYNC_DLQ with the reason. Replay sends them
back through the same connector only: mapping, retries and ordering apply, and the
original event id stays the Idempotency-Key. A dead letter is removed only once its
replay is stored.`,
	}
	cmd.AddCommand(newDLQList(), newDLQShow(), newDLQReplay(), newDLQPurge())
	return cmd
}

// withJS runs fn with a JetStream handle to the NATS of the settings.
func withJS(cmd *cobra.Command, name string, fn func(context.Context, jetstream.JetStream) error) error {
	s, err := config.LoadSettings()
	if err != nil {
		return err
	}
	nc, js, err := connectJS(cmd.Context(), s, name)
	if err != nil {
		return err
	}
	defer nc.Close()
	return fn(cmd.Context(), js)
}

func newDLQList() *cobra.Command {
	var f dlqFlags
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List dead letters, oldest first",
		Example: "  extsync dlq ls --connector court-schedule --since 12h\n  extsync dlq ls --status exhausted --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := f.filter()
			if err != nil {
				return err
			}
			return withJS(cmd, "extsync-dlq", func(ctx context.Context, js jetstream.JetStream) error {
				entries, err := deadletter.Collect(ctx, js, filter)
				if err != nil {
					return err
				}
				return printEntries(cmd.OutOrStdout(), entries, f.json)
			})
		},
	}
	f.add(cmd)
	return cmd
}

func printEntries(w io.Writer, entries []deadletter.Entry, asJSON bool) error {
	if asJSON {
		if entries == nil {
			entries = []deadletter.Entry{} // [] for scripts, not null
		}
		for i := range entries {
			entries[i].Header, entries[i].Body = nil, nil // ls is the summary; show has them
		}
		return writeJSON(w, entries)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tCONNECTOR\tEVENT\tSTATUS\tATTEMPTS\tPARKED\tREASON")
	for _, e := range entries {
		reason := e.Reason
		if e.ReplayOf != 0 {
			reason = fmt.Sprintf("re-failure of dead letter %d: %s", e.ReplayOf, reason)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Seq, e.Connector, e.EventID, e.Status, e.Attempts,
			e.Parked.Format(time.RFC3339), shorten(reason, 100))
	}
	fmt.Fprintln(tw, count(len(entries), "dead letter", "dead letters"))
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newDLQShow() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show SEQ|EVENT-ID",
		Short: "Show one dead letter in full: headers, body, reason",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJS(cmd, "extsync-dlq", func(ctx context.Context, js jetstream.JetStream) error {
				entries, err := deadletter.Collect(ctx, js, deadletter.Filter{IDs: args})
				if err != nil {
					return err
				}
				if len(entries) == 0 {
					return fmt.Errorf("%w: no dead letter with id or sequence %q", deadletter.ErrNotFound, args[0])
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), entries)
				}
				for _, e := range entries {
					showEntry(cmd.OutOrStdout(), e)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output for scripts")
	return cmd
}

func showEntry(w io.Writer, e deadletter.Entry) {
	fmt.Fprintf(w, "dead letter %d (connector %s, event %s)\n", e.Seq, e.Connector, e.EventID)
	fmt.Fprintf(w, "  status    %s after %s\n  reason    %s\n", e.Status, count(e.Attempts, "attempt", "attempts"), e.Reason)
	if e.ReplayOf != 0 {
		fmt.Fprintf(w, "  replay of dead letter %d, which failed again\n", e.ReplayOf)
	}
	fmt.Fprintf(w, "  attempts  %s .. %s\n  parked    %s\n  subject   %s\n",
		e.FirstAttempt.Format(time.RFC3339), e.LastAttempt.Format(time.RFC3339), e.Parked.Format(time.RFC3339), e.Subject)
	fmt.Fprintln(w, "  headers")
	for _, k := range slices.Sorted(maps.Keys(e.Header)) {
		fmt.Fprintf(w, "    %s: %s\n", k, strings.Join(e.Header[k], ", "))
	}
	fmt.Fprintf(w, "  body\n    %s\n", e.Body)
}

// errNothingSelected is returned when replay or purge would act on every
// dead letter without --all.
var errNothingSelected = errors.New("no filter given: pass --connector, --since, --until, --id, --status or --reason, or --all to act on every dead letter")
