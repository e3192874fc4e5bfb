package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

type resyncFlags struct {
	entities []string
	rate     string
	dryRun   bool
	asJSON   bool
}

// resyncReport is `extsync resync --json`.
type resyncReport struct {
	Connector string `json:"connector"`
	Entities  int    `json:"entities"`
	Sent      int    `json:"sent"`
	DryRun    bool   `json:"dry_run"`
}

func newResync(o *options) *cobra.Command {
	var f resyncFlags
	cmd := &cobra.Command{
		Use:   "resync NAME",
		Short: "Send a connector the newest version of every entity again",
		Long: `resync sends, through the connector, the newest version of each of its entities
(or of the --entity keys) that the snapshot (EXTSYNC_SNAPSHOT) holds: for a system
that lost its data, or was restored from an old backup. Each goes through the
connector's pipeline like any event (mapping, ordering, conflict rules, sync
log, dead letters), marked as a repair so a version already delivered is sent
again and not skipped as unchanged; the sync log names who ran it.

The snapshot keeps every entity's newest version even after its events aged out
of the event stream (EXTSYNC_STREAM_MAX_AGE). Exit codes: 0 sent, 1 failure, 2
usage (an unknown connector among them).`,
		Example: `  extsync resync court-schedule --dry-run
  extsync resync court-schedule --rate 50/s
  extsync resync court-schedule --entity wf-1 --entity wf-2 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			perSec, err := parseVerifyRate(f.rate)
			if err != nil {
				return usageError{fmt.Errorf("--rate: %w", err)}
			}
			return withJS(cmd, "extsync-resync", func(ctx context.Context, js jetstream.JetStream) error {
				return runResync(ctx, cmd, o, js, args[0], f, perSec)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.entities, "entity", nil, "an entity key to send (repeat for more; default: every entity)")
	fl.StringVar(&f.rate, "rate", "", "at most this many sends per second (10/s, 600/m; default: no cap)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "count the entities that would be sent, send nothing")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object for scripts")
	return cmd
}

func runResync(ctx context.Context, cmd *cobra.Command, o *options, js jetstream.JetStream, name string,
	f resyncFlags, perSec float64) error {
	settings, err := config.LoadSettings()
	if err != nil {
		return err
	}
	c, _, err := storedConnector(ctx, js, o, name)
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, snapshot.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("resync %s: no snapshot yet (%s is created by `extsync serve`)", name, snapshot.Stream)
	}
	stderr := cmd.ErrOrStderr()
	// What the event stream holds now is sent: the snapshot catches up
	// first, unless no writer runs (then events not yet in it are not).
	if _, err := snapshot.CaughtUp(ctx, js, settings.Stream, 30*time.Second); err != nil {
		fmt.Fprintf(stderr, "note: %v; sending what the snapshot holds\n", err)
	}
	started := time.Now()
	last := started
	s := snapshot.Sending{Connector: name, Query: resyncQuery(c, f.entities), DryRun: f.dryRun,
		Repair: "resync:" + uuid.NewString(), Actor: operator(),
		Progress: func(done int) {
			if time.Since(last) >= 2*time.Second {
				last = time.Now()
				fmt.Fprintf(stderr, "resync %s: %d entities (%.0f/s)\n", name, done, float64(done)/time.Since(started).Seconds())
			}
		}}
	if perSec > 0 {
		s.Every = time.Duration(float64(time.Second) / perSec)
	}
	res, err := snapshot.Send(ctx, js, s)
	if missing := len(f.entities) - res.Entities; err == nil && len(f.entities) > 0 && missing > 0 {
		fmt.Fprintf(stderr, "note: %d of the %d named entities are not in the snapshot (no event of theirs on %s)\n",
			missing, len(f.entities), strings.Join(c.Subjects, ", "))
	}
	rep := resyncReport{Connector: name, Entities: res.Entities, Sent: res.Sent, DryRun: f.dryRun}
	if f.asJSON {
		if jerr := writeJSON(cmd.OutOrStdout(), rep); jerr != nil {
			return errors.Join(err, jerr)
		}
	} else {
		if f.dryRun {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entities would be sent again (dry run: nothing sent)\n", name, res.Entities)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entities sent again\n", name, res.Sent)
		}
	}
	if err != nil {
		return fmt.Errorf("resync %s: %w", name, err)
	}
	return nil
}

func resyncQuery(c *config.Connector, keys []string) snapshot.Query {
	return snapshot.Query{Spec: snapshot.SpecOf(c), Subjects: c.Subjects, Keys: keys}
}
