package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/internal/bench"
	"github.com/hms/extsync/pkg/telemetry"
)

func newBench(opts *options) *cobra.Command {
	var (
		o           bench.Options
		concurrency string
		asJSON      bool
		quick       bool
		minRatio    float64
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency against the raw HTTP ceiling",
		Long: `Start nats-server (in its own process, or --nats embedded) and one http
connector against an in-process keep-alive HTTP sink (or --url), and report
for each concurrency:

  ceiling       raw HTTP: the same sink, bodies and concurrency, no NATS
  bridge        the same backlog through a bare bridge: pull, PUT, ack
  pipeline      a preloaded backlog of --events drained through extsync
  ratio         pipeline / ceiling, both measured in this run
  bridge ratio  pipeline / bridge
  latency       publish → receipt p50/p99/p999 at --rate for --duration
  CPU µs/ev     this process's per event in each phase; NATS's apart when external
  peak RSS      of this process (extsync, publisher, sink; the server too if embedded)
  allocs        heap allocations per event in the pipeline phase (all of them)

Numbers depend on the machine and whatever else runs on it; compare ratios
measured in one run.`,
		Example: `  extsync bench --quick
  extsync bench --nats external --versions 10 --concurrency 1,64
  extsync bench --events 20000 --concurrency 1,8,64 --duration 10s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Concurrency, err = parseConcurrency(concurrency); err != nil {
				return usageError{err}
			}
			if quick {
				o, minRatio = o.QuickDefaults(cmd.Flags().Changed, minRatio)
			}
			// Spans and metrics are made as serve makes them, so their cost
			// is part of the measurement.
			tel, err := telemetry.Setup(cmd.Context(), "extsync-bench", opts.version)
			if err != nil {
				return err
			}
			log := slog.New(telemetry.LogHandler{Handler: slog.NewTextHandler(cmd.ErrOrStderr(),
				&slog.HandlerOptions{Level: slog.LevelWarn})})
			defer shutdownTelemetry(tel, log)
			o.Logger = log
			rep, err := bench.Run(cmd.Context(), o, cmd.ErrOrStderr()) // progress on stderr
			if errors.Is(err, bench.ErrInvalid) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if asJSON {
				err = rep.WriteJSON(cmd.OutOrStdout())
			} else {
				err = rep.WriteTable(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if err := rep.CheckOrder(); err != nil {
				return err
			}
			return rep.CheckBridgeRatio(minRatio) // printed either way; exit 1 below the floor
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Events, "events", bench.DefaultEvents, "events preloaded for the throughput phase (and requests of the ceiling)")
	f.IntVar(&o.Size, "size", bench.DefaultSize, "bytes per event (a structured CloudEvent, padded)")
	f.StringVar(&concurrency, "concurrency", "1,8,64", "connector concurrencies to sweep, comma-separated")
	f.IntVar(&o.Rate, "rate", bench.DefaultRate, "events per second published in the latency phase")
	f.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "length of the latency phase")
	f.StringVar(&o.URL, "url", "", "a real external system instead of the in-process sink (PUT URL/events/{id}, or URL with {id})")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&quick, "quick", false, "a short run for CI: 5,000 events, c=64, external NATS, 5 versions, 1 s of latency, --min-bridge-ratio 0.2, unless other flags say otherwise")
	f.StringVar(&o.NATS, "nats", "", "external (nats-server in its own process, as users run it) or embedded; default external, embedded if no nats-server can be had")
	f.StringVar(&o.NATSServer, "nats-server", "", "nats-server binary for --nats external (default: built once from go.mod's module and cached)")
	f.IntVar(&o.Versions, "versions", 0, "versions per entity, published round-robin (0: unversioned events)")
	f.StringVar(&o.Ordering, "ordering", "entity", "the connector's ordering: entity or none")
	f.Float64Var(&minRatio, "min-bridge-ratio", 0, "exit 1 when pipeline / bare bridge is below this (0: no floor; --quick: 0.2)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each pipeline phase to this file, the bare bridge's to FILE.bridge, and the heap at the pipeline's end to FILE.heap")
	_ = f.MarkHidden("cpuprofile")
	return cmd
}

// parseConcurrency reads "1,8,64".
func parseConcurrency(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--concurrency %q: want a comma-separated list of 1 to 1024", s)
		}
		out = append(out, n)
	}
	return out, nil
}
