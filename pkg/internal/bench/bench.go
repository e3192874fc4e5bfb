package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Options say what to measure. Zero values take the defaults.
type Options struct {
	// Events is the backlog preloaded before the pipeline starts, and the
	// number of requests of the raw HTTP ceiling (default 100,000).
	Events int
	// Size is each event's message body in bytes (default 512): a
	// structured CloudEvent padded to this size.
	Size int
	// Concurrency lists the connector concurrencies to sweep (default 1, 8,
	// 64); each gets a fresh server, store and stream.
	Concurrency []int
	// Rate and Duration set the latency phase: events published per second
	// for how long, with the pipeline running (default 1,000/s for 20 s).
	Rate     int
	Duration time.Duration
	// URL is a real external system to use instead of the in-process sink;
	// requests go to URL/events/{id}, or to URL itself when it holds {id}.
	URL string
	// CPUProfile, if set, is where a CPU profile of each pipeline phase is
	// written (the bare bridge's with ".bridge" added); with several
	// concurrencies, "-c<N>" goes before the extension.
	CPUProfile string
	// NATS is where the broker runs: NATSExternal, a nats-server in its
	// own process as users run it, or NATSEmbedded, in this process.
	// Empty: external when a nats-server binary can be had, else embedded
	// with a note saying why.
	NATS string
	// NATSServer is the nats-server binary for external; empty: one built
	// once from the module in go.mod and cached (see natsBinary).
	NATSServer string
	// Versions, when above 0, makes events versioned: the backlog spreads
	// over Events/Versions entities, each published Versions times,
	// round-robin, and the connector reads `version: version`. 0 sends
	// unversioned events, each its own entity.
	Versions int
	// Ordering is the connector's ordering: "entity" (the product's
	// default, and the default here) or "none".
	Ordering string
	// Logger receives extsync's own log; nil discards it.
	Logger *slog.Logger

	natsBin string // resolved by Run for external
}

// Defaults.
const (
	DefaultEvents   = 100_000
	DefaultSize     = 512
	DefaultRate     = 1_000
	DefaultDuration = 20 * time.Second
)

// DefaultConcurrency is the default sweep.
var DefaultConcurrency = []int{1, 8, 64}

func (o Options) withDefaults() Options {
	if o.Events == 0 {
		o.Events = DefaultEvents
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if len(o.Concurrency) == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Ordering == "" {
		o.Ordering = "entity"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ErrInvalid marks options that cannot be run.
var ErrInvalid = errors.New("invalid bench options")

func (o Options) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case o.Events < 1:
		return bad("events %d: want at least 1", o.Events)
	case o.Size < 1 || o.Size > 1<<20:
		return bad("size %d: want 1 to 1048576 bytes", o.Size)
	case o.Rate < 1:
		return bad("rate %d: want at least 1 event/s", o.Rate)
	case o.Duration < 0:
		return bad("duration %s is negative", o.Duration)
	case o.Versions < 0 || o.Versions > o.Events:
		return bad("versions %d: want 0 (unversioned) to the number of events", o.Versions)
	case o.Ordering != "entity" && o.Ordering != "none":
		return bad("ordering %q: want entity or none", o.Ordering)
	case o.NATS != "" && o.NATS != NATSExternal && o.NATS != NATSEmbedded:
		return bad("nats %q: want external or embedded", o.NATS)
	case o.NATSServer != "" && o.NATS == NATSEmbedded:
		return bad("--nats-server names a binary for --nats external, not embedded")
	}
	for _, c := range o.Concurrency {
		if c < 1 || c > 1024 {
			return bad("concurrency %d: want 1 to 1024", c)
		}
	}
	if o.URL != "" && !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return bad("url %q: want an http:// or https:// URL", o.URL)
	}
	return nil
}

// Run measures each concurrency in turn, writing progress lines to out.
func Run(ctx context.Context, opts Options, out io.Writer) (Report, error) {
	o := opts.withDefaults()
	rep := Report{
		Events: o.Events, EventBytes: o.Size, LatencyRate: o.Rate, LatencyDuration: o.Duration.Seconds(),
		Sink: "in-process keep-alive HTTP server", GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), Started: time.Now().UTC(),
	}
	if err := o.validate(); err != nil {
		return rep, err
	}
	if o.URL != "" {
		rep.Sink = o.URL
	}
	rep.Versions, rep.Ordering = o.Versions, o.Ordering
	if err := o.resolveNATS(ctx, out, &rep); err != nil {
		return rep, err
	}
	rep.Notes = append(notes(o), rep.Notes...)
	for _, c := range o.Concurrency {
		profile := profilePath(o.CPUProfile, c, len(o.Concurrency) > 1)
		res, err := runOne(ctx, o, c, profile, func(format string, args ...any) {
			fmt.Fprintf(out, "c=%d: %s\n", c, fmt.Sprintf(format, args...))
		})
		if err != nil {
			return rep, fmt.Errorf("concurrency %d: %w", c, err)
		}
		rep.Results = append(rep.Results, res)
	}
	if !resetPeakRSS() {
		rep.Notes = append(rep.Notes, "peak RSS could not be reset between runs (/proc/self/clear_refs): each is the peak so far")
	}
	return rep, nil
}

func notes(o Options) []string {
	n := []string{
		"ratio = pipeline / ceiling; both measured here, against the same sink at the same concurrency; the ceiling is raw HTTP run before and after the pipeline, combined, so drift in the machine's speed cancels in part",
		"bridge ratio = pipeline / bare bridge: one pull consumer, workers that PUT each message's body (the whole CloudEvent) and ack, nothing else; it drains the same backlog from the same NATS to the same sink, after the pipeline",
		"snapshot: serve's snapshot writer alone building EXTSYNC_SNAPSHOT from the same backlog (the pipeline phase runs without it); serve pays both",
	}
	if o.NATS == NATSExternal {
		n = append(n,
			"NATS: nats-server in its own process on loopback; CPU µs/ev columns are this process's (extsync, publisher, sink), NATS CPU µs/ev the server's (its threads' /proc schedstat)",
			"allocs/ev: every heap allocation in this process during the phase, the sink's included",
			"peak RSS: VmHWM of this process, reset before each concurrency: extsync, publisher and sink; drain RSS: the same over the pipeline phase alone; NATS peak RSS is the server's own")
	} else {
		n = append(n,
			"NATS embedded in this process: its CPU is in the CPU µs/ev columns",
			"allocs/ev: every heap allocation in this process during the phase, the embedded NATS server's and the sink's included",
			"peak RSS: VmHWM of this process, reset before each concurrency: extsync, embedded server, publisher and sink together; drain RSS: the same over the pipeline phase alone")
	}
	if o.URL != "" {
		n = append(n, "latency with --url: publish → the delivery's sync-log record is stored and the event acked")
	} else {
		n = append(n, "latency: publish → receipt by the sink (sent_unix_nano in the body)")
	}
	return n
}

// resolveNATS finds the nats-server binary for external NATS. With the
// mode left to it, a binary that cannot be had means embedded, said on
// out and in the report's notes; asked for external, it is an error.
func (o *Options) resolveNATS(ctx context.Context, out io.Writer, rep *Report) error {
	if o.NATS == NATSEmbedded {
		rep.NATS = NATSEmbedded
		return nil
	}
	bin, how, err := natsBinary(ctx, o.NATSServer)
	switch {
	case err == nil:
		o.NATS, o.natsBin = NATSExternal, bin
		rep.NATS, rep.NATSServer = NATSExternal, bin+" ("+how+")"
		return nil
	case o.NATS == NATSExternal || o.NATSServer != "": // asked for, not defaulted
		return fmt.Errorf("--nats external: %w", err)
	}
	o.NATS, rep.NATS = NATSEmbedded, NATSEmbedded
	msg := fmt.Sprintf("NATS embedded in this process, not external as users run it: %v", err)
	fmt.Fprintln(out, msg)
	rep.Notes = append(rep.Notes, msg)
	return nil
}

// profilePath names the CPU profile of concurrency c.
func profilePath(path string, c int, several bool) string {
	if path == "" || !several {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-c" + strconv.Itoa(c) + ext
}

// connectorDoc is the benchmark's connectors file: one http connector,
// no mapping (the whole data is sent), retry defaults, the ordering asked
// for and, for versioned events, the version path.
func connectorDoc(url string, concurrency int, ordering string, versioned bool) []byte {
	version := ""
	if versioned {
		version = "    version: version\n"
	}
	return []byte(`connectors:
  - name: bench
    kind: http
    subjects: [` + Subject + `]
    concurrency: ` + strconv.Itoa(concurrency) + `
    ordering: ` + ordering + `
` + version + `    http:
      method: PUT
      url: ` + strconv.Quote(url) + `
`)
}

const (
	streamName = "HMS_EVENTS"
	durable    = "extsync-bench"
)

// startProfile starts a CPU profile into path ("" for none).
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path) // #nosec G304 -- the operator names the profile file with a flag
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// writeHeapProfile writes the heap as the backlog drained (what is live,
// where it was allocated) beside the CPU profile at path, as path.heap.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path + ".heap") // #nosec G304 -- the operator names the profile file with a flag
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
