package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/pipeline"
	"github.com/hms/extsync/pkg/internal/throttle"
)

func newConnectors(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "The connector store: list, apply and remove connectors without restarting",
		Long: `Connectors live in the KV bucket extsync_connectors, one entry each, with their
${VAR} references unexpanded: every running instance watches the bucket and
starts, updates (after draining the old runner) or stops the connector, reading
the variables from its own environment. serve applies its connectors file the
same way at start.`,
	}
	cmd.AddCommand(newConnectorsList(), newConnectorsApply(o), newConnectorsRemove())
	return cmd
}

func newConnectorsApply(o *options) *cobra.Command {
	var file string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     "apply FILE | -f FILE",
		Short:   "Validate a connectors file and store its connectors in the connector store",
		Example: "  extsync connectors apply court.yaml\n  extsync connectors apply -f court.yaml",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && file != "":
				return usageError{fmt.Errorf("give the connectors file once: %s or -f %s", args[0], file)}
			case len(args) == 1:
				file = args[0]
			case file == "":
				return usageError{errors.New("a connectors file is required: extsync connectors apply FILE")}
			}
			s, err := config.LoadSettings()
			if err != nil {
				return err
			}
			release, err := useFiles(s, file)
			if err != nil {
				return err
			}
			defer release()
			env := &config.LenientEnv{}
			data, err := os.ReadFile(file) // #nosec G304 -- the operator names the file with -f
			if err != nil {
				return usageError{fmt.Errorf("connectors file: %w", err)}
			}
			names, docs, err := connstore.Prepare(file, data, env.Lookup, checkWith(o.kinds))
			if err != nil {
				return err
			}
			if unset := env.Unset(); len(unset) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %s not set here; each instance reads them from its own environment\n",
					strings.Join(unset, ", "))
			}
			return withJS(cmd, "extsync-connectors", func(ctx context.Context, js jetstream.JetStream) error {
				reg, err := connstore.Open(ctx, js, replicas())
				if err != nil {
					return err
				}
				changes, err := reg.Apply(ctx, js, names, docs, connstore.ProcessActor("cli"))
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if wait <= 0 {
					for _, c := range changes {
						fmt.Fprintf(out, "stored %s as revision %d (%s)\n", c.Name, c.Revision, map[bool]string{true: "changed", false: "unchanged"}[c.Changed])
					}
					fmt.Fprintln(out, "not waiting for the running instances (--wait 0): `extsync connectors ls` shows what each runs")
					return nil
				}
				sts, err := awaitInstances(ctx, js.Conn(), changes, wait)
				if err != nil {
					return err
				}
				return reportApplied(out, changes, sts, wait)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "connectors file (the format of EXTSYNC_CONNECTORS)")
	cmd.Flags().DurationVar(&wait, "wait", 5*time.Second,
		"how long to wait for the running instances to take the change and say what they did (0: store and return)")
	return cmd
}

func newConnectorsRemove() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a connector: every instance drains and stops it",
		Long: `Remove a connector from the connector store. Every instance drains its runner (in-flight
deliveries finish and settle) and stops it. Its durable consumer is kept, so
applying the connector again resumes where it stopped rather than replaying the
stream; delete the consumer with the nats CLI to forget its position.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withJS(cmd, "extsync-connectors", func(ctx context.Context, js jetstream.JetStream) error {
				reg, err := connstore.Open(ctx, js, replicas())
				if err != nil {
					return err
				}
				if err := reg.Delete(ctx, js, args[0], connstore.ProcessActor("cli")); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s; running instances drain and stop it\n", args[0])
				return nil
			})
		},
	}
}

// connectorRow is one line of `connectors ls`.
type connectorRow struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Subjects    []string `json:"subjects"`
	Revision    uint64   `json:"revision"`
	Pending     uint64   `json:"pending"`
	AckPending  int      `json:"ack_pending"`
	Redelivered int      `json:"redelivered"`
	Error       string   `json:"error,omitempty"`
	// Batch is a batch connector's next run, events waiting and last run.
	Batch *pipeline.BatchStatus `json:"batch,omitempty"`
	// Throttle is the adaptive rate its replicas share now, when it has one.
	Throttle *throttleRow `json:"throttle,omitempty"`
	// Instances is what each running instance has of the connector.
	Instances []instanceRow `json:"instances"`
	// Verify is the last verification round (extsync verify, or verify:).
	Verify *coherence.Round `json:"verify,omitempty"`
}

// instanceRow is one instance's state of one connector.
type instanceRow struct {
	Instance string `json:"instance"`
	Running  bool   `json:"running"`
	// Revision is the store revision running there (0: none).
	Revision uint64 `json:"revision,omitempty"`
	// RegistryError says why the instance did not take a revision.
	RegistryError string `json:"registry_error,omitempty"`
	InFlight      int64  `json:"in_flight"`
	Delivered     int64  `json:"delivered"`
	Failed        int64  `json:"failed"`
	LastError     string `json:"last_error,omitempty"`
}

type throttleRow struct {
	Rate     float64 `json:"rate"`
	Max      float64 `json:"max"`
	Replicas int     `json:"replicas"`
}

func newConnectorsList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the connector store's connectors with their consumers' backlog",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := config.LoadSettings()
			if err != nil {
				return err
			}
			return withJS(cmd, "extsync-connectors", func(ctx context.Context, js jetstream.JetStream) error {
				rows, err := connectorRows(ctx, js, s.Stream)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				printConnectors(cmd.OutOrStdout(), rows)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output for scripts")
	return cmd
}

func connectorRows(ctx context.Context, js jetstream.JetStream, stream string) ([]connectorRow, error) {
	reg, err := connstore.Open(ctx, js, replicas())
	if err != nil {
		return nil, err
	}
	entries, err := reg.List(ctx)
	if err != nil {
		return nil, err
	}
	rows := []connectorRow{}
	throttles, err := js.KeyValue(ctx, throttle.Bucket)
	if err != nil {
		throttles = nil // no connector has run a throttle yet: rows show none
	}
	insts, err := askInstances(ctx, js.Conn())
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		row := connectorRow{Name: e.Name, Revision: e.Revision, Instances: []instanceRow{}}
		for _, inst := range insts {
			ir := instanceRow{Instance: inst.Instance}
			if c, ok := instanceConnector(inst, e.Name); ok {
				ir.Running, ir.Revision, ir.RegistryError = c.Running, c.Revision, c.RegistryError
				ir.InFlight, ir.Delivered, ir.Failed, ir.LastError = c.InFlight, c.Delivered, c.Failed, c.LastError
			}
			row.Instances = append(row.Instances, ir)
		}
		if c, err := connstore.Load(e, (&config.LenientEnv{}).Lookup, nil); err != nil {
			row.Error = err.Error()
		} else {
			row.Kind, row.Subjects = c.Kind, c.Subjects
			if c.Throttle != nil {
				row.Throttle = readThrottle(ctx, throttles, c)
			}
			if c.Mode == config.ModeBatch {
				if st, err := batchRequest(ctx, js.Conn(), pipeline.BatchStatusSubject, e.Name); err == nil {
					row.Batch = &st
				}
			}
		}
		row.Verify, _ = coherence.LastRound(ctx, js, e.Name)
		if cons, err := js.Consumer(ctx, stream, "extsync-"+e.Name); err == nil {
			info := cons.CachedInfo()
			row.Pending, row.AckPending, row.Redelivered = info.NumPending, info.NumAckPending, info.NumRedelivered
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func printConnectors(w io.Writer, rows []connectorRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSUBJECTS\tREV\tPENDING\tACK PENDING\tREDELIVERED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Name, r.Kind, strings.Join(r.Subjects, ","),
			r.Revision, r.Pending, r.AckPending, r.Redelivered)
	}
	_ = tw.Flush()
	// Details below the table: a line without tabs would break its columns.
	for _, r := range rows {
		fmt.Fprintf(w, "\n%s\n", r.Name)
		if b := r.Batch; b != nil {
			fmt.Fprintf(w, "  batch: next run %s, %d waiting, %d sending; last run %s: %s (%d events)\n",
				b.NextRun.Format(time.RFC3339), b.Waiting, b.Sending, b.LastRun.Format(time.RFC3339), orNone(b.LastResult), b.LastEvents)
		}
		if t := r.Throttle; t != nil {
			fmt.Fprintf(w, "  throttle: %.1f/s of %.1f/s shared by %d replicas\n", t.Rate, t.Max, t.Replicas)
		}
		printRound(tw, r.Verify)
		if r.Error != "" {
			fmt.Fprintf(w, "  ! %s\n", r.Error)
		}
		for _, in := range r.Instances {
			fmt.Fprintln(w, instanceLine(in))
		}
		if len(r.Instances) == 0 {
			fmt.Fprintln(w, "  ! no running instance answered: nothing runs it")
		}
	}
}

// instanceLine is one instance's state of a connector in `connectors ls`.
func instanceLine(in instanceRow) string {
	state := "not running it"
	if in.Running || in.Revision > 0 {
		state = fmt.Sprintf("running revision %d, %d in flight, %d delivered, %d failed", in.Revision, in.InFlight, in.Delivered, in.Failed)
		if !in.Running {
			state = fmt.Sprintf("revision %d loaded, not consuming", in.Revision)
		}
	}
	switch {
	case in.RegistryError != "" && (in.Running || in.Revision > 0):
		return fmt.Sprintf("  ! %s: %s; %s", in.Instance, state, in.RegistryError)
	case in.RegistryError != "":
		return fmt.Sprintf("  ! %s: %s", in.Instance, in.RegistryError)
	}
	return fmt.Sprintf("  %s: %s", in.Instance, state)
}

// readThrottle is c's shared rate now, nil when the bucket cannot say.
func readThrottle(ctx context.Context, kv jetstream.KeyValue, c *config.Connector) *throttleRow {
	if kv == nil {
		return nil
	}
	p := throttle.ParamsOf(c.Throttle)
	rate, n, err := throttle.Read(ctx, kv, c.Name, p)
	if err != nil {
		return nil
	}
	return &throttleRow{Rate: rate, Max: p.Max, Replicas: n}
}
