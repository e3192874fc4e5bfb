package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/internal/policy"
	"github.com/hms/extsync/pkg/synclog"
)

func newLog() *cobra.Command {
	var f synclog.Filter
	var since string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "log",
		Short: "The sync log: every delivery attempt, replay and operator action",
		Long: `The sync log (EXTSYNC_LOG) holds one record per delivery attempt (event id,
entity, version, attempt, outcome, status, error, duration, trace id) and one per
operator action (outcome admin). --event shows everything that happened to one
event, across attempts and replays; --follow keeps printing new records.`,
		Example: `  extsync log --event 01a20626-7d63-76ab-bb65-677530be5514
  extsync log --connector court-schedule --status dead-lettered --since 24h
  extsync log --follow --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if f.Since, err = parseWhen("since", since, time.Now()); err != nil {
				return err
			}
			if err := checkLogStatus(f.Status); err != nil {
				return err
			}
			return withJS(cmd, "extsync-log", func(ctx context.Context, js jetstream.JetStream) error {
				p := newRecordPrinter(cmd.OutOrStdout(), asJSON)
				err := synclog.Query(ctx, js, f, p.print)
				if f.Follow && ctx.Err() != nil {
					return nil // interrupted: the normal end of --follow
				}
				if err != nil {
					return err
				}
				if !asJSON && p.n == 0 {
					fmt.Fprintln(cmd.ErrOrStderr(), "no records match")
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Connector, "connector", "", "only this connector")
	fl.StringVar(&f.EventID, "event", "", "only this event id")
	fl.StringVar(&f.Entity, "entity", "", "only this entity key")
	fl.StringVar(&f.Status, "status", "", "an outcome (delivered, retry, dead-lettered, admin, ...) or a status code (503)")
	fl.StringVar(&since, "since", "", "from: RFC 3339 time, or a duration ago (2h)")
	fl.BoolVar(&f.Follow, "follow", false, "keep printing new records until interrupted")
	fl.BoolVar(&asJSON, "json", false, "one JSON record per line")
	return cmd
}

type recordPrinter struct {
	w      io.Writer
	enc    *json.Encoder
	n      int
	header bool
}

func newRecordPrinter(w io.Writer, asJSON bool) *recordPrinter {
	p := &recordPrinter{w: w}
	if asJSON {
		p.enc = json.NewEncoder(w)
	}
	return p
}

// print writes one record; a line each, so --follow output streams.
func (p *recordPrinter) print(r synclog.Record) error {
	p.n++
	if p.enc != nil {
		return p.enc.Encode(r)
	}
	if !p.header {
		p.header = true
		fmt.Fprintf(p.w, "%-24s %-16s %-38s %-12s %-8s %3s %-16s %4s %8s  %s\n",
			"TIME", "CONNECTOR", "EVENT", "ENTITY", "VERSION", "ATT", "OUTCOME", "CODE", "MS", "ERROR / ACTION")
	}
	detail := r.Error
	switch {
	case r.Outcome == synclog.OutcomeAdmin:
		detail = fmt.Sprintf("%s of %d by %s", r.Action, r.Count, r.Actor)
	case r.ReplayOf != 0:
		detail = replayNote(r)
	}
	if r.Operation != "" {
		detail = strings.TrimSuffix(r.Operation+"; "+detail, "; ")
	}
	version := r.Version
	if version == "" {
		version = "-"
	}
	_, err := fmt.Fprintf(p.w, "%-24s %-16s %-38s %-12s %-8s %3d %-16s %4d %8.1f  %s\n",
		r.Time.Format("2006-01-02T15:04:05.000Z"), r.Connector, r.EventID, r.Entity, version, r.Attempt, r.Outcome,
		r.Status, r.DurationMS, shorten(detail, 100))
	return err
}

// replayNote says which dead letter a replayed attempt came from, who sent
// it, and how it went.
func replayNote(r synclog.Record) string {
	parts := []string{fmt.Sprintf("replay of dead letter %d", r.ReplayOf)}
	if r.Actor != "" {
		parts[0] += " by " + r.Actor
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	return strings.Join(parts, "; ")
}

// logStatuses are the values --status takes besides a status code.
func logStatuses() []string {
	return append(slices.Clone(policy.Outcomes), synclog.OutcomeAdmin)
}

// checkLogStatus refuses a --status that no record can have, so a typo
// is not answered with "no records match".
func checkLogStatus(status string) error {
	if status == "" || slices.Contains(logStatuses(), status) {
		return nil
	}
	if code, err := strconv.Atoi(status); err == nil && code >= 100 && code <= 599 {
		return nil
	}
	return usageError{fmt.Errorf("--status %q: want an outcome (%s) or a status code (100-599, e.g. 503)",
		status, strings.Join(logStatuses(), ", "))}
}
