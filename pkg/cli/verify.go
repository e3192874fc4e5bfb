package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// exitNotInStep is verify's exit code when some entity is not in step.
const exitNotInStep = 3

// exitError ends a command with its own exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

type verifyFlags struct {
	entities []string
	all      bool
	sample   string
	rate     string
	repair   bool
	asJSON   bool
}

func newVerify(o *options) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify NAME",
		Short: "Check that a connector's system still holds what was delivered to it",
		Long: `verify reads back, through the connector, the record of each entity extsync
delivered and compares it with the record last delivered (the mapped fields
only). Each entity is in step, drifted (some field differs: both values are
shown) or missing (the system has no record). Drifted and missing entities are
marked in extsync_state, so their next version is sent whatever it holds; with
--repair their last delivered version is sent again through the connector now.
Every verdict is written to the sync log (outcomes verified, drifted, repaired).

Kinds http and sql can read back, and soap with a soap.read block; a webhook or
sftp connector, or a soap one without soap.read, cannot be verified (exit 2). Exit codes: 0 all in step, 3 some not, 1 failure (a read
failed, or the run did), 2 usage.`,
		Example: `  extsync verify court-schedule --all
  extsync verify court-schedule --sample 5% --rate 10/s --json
  extsync verify court-schedule --entity wf-1 --entity wf-2 --repair`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, perSec, err := f.selection()
			if err != nil {
				return err
			}
			return withJS(cmd, "extsync-verify", func(ctx context.Context, js jetstream.JetStream) error {
				return runVerify(ctx, cmd, o, js, args[0], f, sel, perSec)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.entities, "entity", nil, "an entity key to check (repeat for more)")
	fl.BoolVar(&f.all, "all", false, "check every entity extsync delivered")
	fl.StringVar(&f.sample, "sample", "", "check this share of the entities, chosen at random (5%)")
	fl.StringVar(&f.rate, "rate", "", "at most this many reads of the system per second (10/s, 600/m; default: no cap, 8 at once)")
	fl.BoolVar(&f.repair, "repair", false, "send the last delivered version of each entity not in step through the connector again")
	fl.BoolVar(&f.asJSON, "json", false, "one JSON object for scripts")
	return cmd
}

// selection reads the flags: which entities, and the read rate (0: no cap).
func (f *verifyFlags) selection() (coherence.Selection, float64, error) {
	var sel coherence.Selection
	switch {
	case len(f.entities) > 0 && (f.all || f.sample != ""):
		return sel, 0, usageError{errors.New("--entity names the entities to check; leave out --all and --sample with it")}
	case len(f.entities) == 0 && !f.all && f.sample == "":
		return sel, 0, usageError{errors.New("say which entities to check: --all, --sample PCT or --entity KEY")}
	}
	sel.Entities = f.entities
	if f.sample != "" {
		p, err := config.ParsePercent(f.sample)
		if err != nil {
			return sel, 0, usageError{fmt.Errorf("--sample: %w", err)}
		}
		sel.Sample = float64(p)
	}
	perSec, err := parseVerifyRate(f.rate)
	if err != nil {
		return sel, 0, usageError{fmt.Errorf("--rate: %w", err)}
	}
	return sel, perSec, nil
}

// parseVerifyRate reads "10/s" (config.ParseRate), a plain number per
// second, or "" / "unlimited" for no cap.
func parseVerifyRate(s string) (float64, error) {
	if s == "" || s == "unlimited" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return n, nil
	}
	r, err := config.ParseRate(s)
	if err != nil {
		return 0, err
	}
	return float64(r.N) / r.Per.Seconds(), nil
}

func runVerify(ctx context.Context, cmd *cobra.Command, o *options, js jetstream.JetStream, name string,
	f verifyFlags, sel coherence.Selection, perSec float64) error {
	s, err := config.LoadSettings()
	if err != nil {
		return err
	}
	c, env, err := storedConnector(ctx, js, o, name)
	if err != nil {
		return err
	}
	conn, remote, err := coherence.Open(o.kinds, c)
	var cannot *coherence.CannotReadBackError
	if errors.As(err, &cannot) {
		return usageError{err}
	}
	if err != nil {
		return fmt.Errorf("connector %q: %w", name, err)
	}
	defer conn.Close()
	if unset := env.Unset(); len(unset) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s not set here; the system may refuse the reads\n", strings.Join(unset, ", "))
	}
	states, err := reconcile.Open(ctx, js, s.Replicas)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	started := time.Now()
	checker := &coherence.Checker{Connector: c, Remote: remote, States: states, JS: js, Stream: s.Stream,
		Rate: perSec, Workers: 8, Repair: f.repair, Actor: operator(),
		Progress: func(done, total int) {
			fmt.Fprintf(stderr, "verify %s: %d of %d entities (%.0f/s)\n", name, done, total,
				float64(done)/time.Since(started).Seconds())
		}}
	res, runErr := checker.Run(ctx, sel)
	if len(sel.Entities) == 0 {
		if err := saveRound(ctx, js, s.Replicas, coherence.NewRound("cli", sel.Sample, started, res, runErr)); err != nil {
			fmt.Fprintf(stderr, "note: the result is not kept for `connectors ls`: %v\n", err)
		}
	}
	if f.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
			return err
		}
	} else {
		printVerify(cmd.OutOrStdout(), res)
	}
	return verifyOutcome(res, runErr)
}

// storedConnector loads name from the connector store with this
// process's environment.
func storedConnector(ctx context.Context, js jetstream.JetStream, o *options, name string) (*config.Connector, *config.LenientEnv, error) {
	reg, err := connstore.Open(ctx, js, replicas())
	if err != nil {
		return nil, nil, err
	}
	entries, err := reg.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	env := &config.LenientEnv{}
	for _, e := range entries {
		if e.Name == name {
			c, err := connstore.Load(e, env.Lookup, checkWith(o.kinds))
			return c, env, err
		}
	}
	return nil, nil, usageError{fmt.Errorf("no connector %q in the connector store (see `extsync connectors ls`)", name)}
}

func saveRound(ctx context.Context, js jetstream.JetStream, replicas int, r coherence.Round) error {
	rounds, err := coherence.OpenRounds(ctx, js, replicas)
	if err != nil {
		return err
	}
	return rounds.Save(ctx, r)
}

// verifyOutcome is the command's error for its exit code: 1 when the run
// or a read failed, 3 when some entity is not in step.
func verifyOutcome(res *coherence.Result, runErr error) error {
	switch {
	case runErr != nil:
		return fmt.Errorf("verify %s: %w", res.Connector, runErr)
	case res.Failed > 0:
		return fmt.Errorf("verify %s: %d entities could not be checked (see their errors)", res.Connector, res.Failed)
	case !res.InStepAll():
		return exitError{exitNotInStep, fmt.Errorf("verify %s: %d of %d entities not in step",
			res.Connector, res.Drifted+res.Missing, res.Checked)}
	}
	return nil
}

func printVerify(w io.Writer, r *coherence.Result) {
	fmt.Fprintf(w, "%s: checked %d, in step %d, drifted %d, missing %d, repaired %d", r.Connector,
		r.Checked, r.InStep, r.Drifted, r.Missing, r.Repaired)
	if r.Failed > 0 {
		fmt.Fprintf(w, ", failed %d", r.Failed)
	}
	if r.Skipped > 0 {
		fmt.Fprintf(w, " (%d with no delivered record yet)", r.Skipped)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range r.Entities {
		var detail []string
		for _, fd := range e.Fields {
			detail = append(detail, fmt.Sprintf("%s: extsync %s, system %s", fd.Field, jsonText(fd.Extsync), jsonText(fd.System)))
		}
		if e.State == coherence.Missing {
			detail = []string{"the system has no record"}
		}
		if e.Error != "" {
			detail = append(detail, e.Error)
		}
		if e.Repaired {
			detail = append(detail, "sent again")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.Key, e.State, shorten(strings.Join(detail, "; "), 200))
	}
	_ = tw.Flush()
}

// jsonText is v as JSON, for a field's value in a line.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// printRound is the `connectors ls` line of a connector's last round.
func printRound(w io.Writer, r *coherence.Round) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "  verify: %s (%s, %.4g%%): checked %d, in step %d, drifted %d, missing %d, repaired %d",
		r.Finished.Format(time.RFC3339), r.Trigger, r.Sample, r.Checked, r.InStep, r.Drifted, r.Missing, r.Repaired)
	if r.Error != "" {
		fmt.Fprintf(w, "; %s", shorten(r.Error, 100))
	}
	fmt.Fprintln(w)
}
