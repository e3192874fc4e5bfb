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
	"sync/atomic"
	"time"

	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/synclog"
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
	// written; with several concurrencies, "-c<N>" goes before the extension.
	CPUProfile string
	// Logger receives extsync's own log; nil discards it.
	Logger *slog.Logger
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

// Report is one run's measurements.
type Report struct {
	Events          int       `json:"events"`
	EventBytes      int       `json:"event_bytes"`
	LatencyRate     int       `json:"latency_rate_per_sec"`
	LatencyDuration float64   `json:"latency_duration_sec"`
	Sink            string    `json:"sink"`
	GOMAXPROCS      int       `json:"gomaxprocs"`
	GoVersion       string    `json:"go_version"`
	Results         []Result  `json:"results"`
	Notes           []string  `json:"notes"`
	Started         time.Time `json:"started"`
}

// Result is one concurrency value's measurements.
type Result struct {
	Concurrency int `json:"concurrency"`
	// CeilingPerSec is raw HTTP: the same sink, bodies and concurrency,
	// one keep-alive client, no NATS. It is measured before and after the
	// pipeline phase (CeilingRunsPerSec) and is the two runs combined.
	CeilingPerSec     float64   `json:"ceiling_events_per_sec"`
	CeilingRunsPerSec []float64 `json:"ceiling_runs_events_per_sec"`
	// PipelinePerSec is the preloaded backlog drained through extsync:
	// from starting the pipeline until the sink has seen every event and
	// every one is acked.
	PipelinePerSec float64 `json:"pipeline_events_per_sec"`
	// Ratio is PipelinePerSec / CeilingPerSec.
	Ratio           float64 `json:"ratio"`
	CeilingSeconds  float64 `json:"ceiling_sec"` // both runs
	PreloadSeconds  float64 `json:"preload_sec"`
	PipelineSeconds float64 `json:"pipeline_sec"`
	// Latency is publish → receipt at the fixed rate, pipeline running.
	Latency Latency `json:"latency"`
	// PeakRSSBytes is the process's VmHWM over this concurrency's run
	// (preload, pipeline, latency): extsync, the embedded server, the
	// publisher and the in-process sink together.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// AllocsPerEvent and AllocBytesPerEvent are the process's heap
	// allocations during the pipeline phase divided by the events: they
	// include the embedded NATS server's and the sink's.
	AllocsPerEvent     float64 `json:"allocs_per_event"`
	AllocBytesPerEvent float64 `json:"alloc_bytes_per_event"`
	// CeilingAllocsPerEvent is the same count for the ceiling's requests
	// (client and sink): what the pipeline allocates beyond it is its own.
	CeilingAllocsPerEvent float64 `json:"ceiling_allocs_per_event"`
	// Retries and DeadLettered count attempts that did not deliver (none
	// are expected against the in-process sink).
	// CeilingCPUMicros and PipelineCPUMicros are the process's CPU time
	// (user and system) per event in each phase: on shared cores this
	// says more than wall time about what the pipeline adds.
	CeilingCPUMicros  float64 `json:"ceiling_cpu_us_per_event"`
	PipelineCPUMicros float64 `json:"pipeline_cpu_us_per_event"`
	// AttemptMS is the mean time of one delivery attempt in the pipeline
	// phase (guard, mapping and the external call), as the sync log
	// records it: against 1/PipelinePerSec per worker it shows how much
	// of an event's time is spent around the call rather than in it.
	AttemptMS    float64 `json:"attempt_ms"`
	Retries      int64   `json:"retries"`
	DeadLettered int64   `json:"dead_lettered"`
	CPUProfile   string  `json:"cpu_profile,omitempty"`
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
	rep.Notes = notes(o)
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
		"allocs/ev: every heap allocation in this process during the phase, the embedded NATS server's and the sink's included",
		"peak RSS: VmHWM of this process, reset before each concurrency: extsync, embedded server, publisher and sink together",
	}
	if o.URL != "" {
		n = append(n, "latency with --url: publish → the delivery's sync-log record is stored and the event acked")
	} else {
		n = append(n, "latency: publish → receipt by the sink (sent_unix_nano in the body)")
	}
	return n
}

// profilePath names the CPU profile of concurrency c.
func profilePath(path string, c int, several bool) string {
	if path == "" || !several {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-c" + strconv.Itoa(c) + ext
}

// observer sees every sync-log record of the benchmark's connector: it
// counts the events delivered (and acked: the record follows the ack) and
// the attempts that failed.
type observer struct {
	tally                   atomic.Pointer[tally]
	sent                    atomic.Pointer[[]atomic.Int64] // publish times of the latency phase
	retries                 atomic.Int64
	deadLettered            atomic.Int64
	attemptMicros, attempts atomic.Int64
}

func (ob *observer) meanAttemptMS() float64 {
	n := ob.attempts.Load()
	if n == 0 {
		return 0
	}
	return float64(ob.attemptMicros.Load()) / 1000 / float64(n)
}

func (ob *observer) record(r synclog.Record) {
	switch r.Outcome {
	case policy.OutcomeDelivered:
	case policy.OutcomeDeadLettered:
		ob.deadLettered.Add(1)
		return
	default:
		ob.retries.Add(1)
		return
	}
	t := ob.tally.Load()
	if t == nil {
		return
	}
	phase, n, ok := parseID(r.EventID)
	if ok && phase == phaseThroughput {
		ob.attemptMicros.Add(int64(r.DurationMS * 1000))
		ob.attempts.Add(1)
	}
	if !ok {
		return
	}
	now := time.Now()
	var lat time.Duration
	if sent := ob.sent.Load(); t.latencies && sent != nil && n < len(*sent) {
		lat = now.Sub(time.Unix(0, (*sent)[n].Load()))
	}
	t.see(phase, n, now, lat)
}

// connectorDoc is the benchmark's connectors file: one http connector,
// no mapping (the whole data is sent), ordering none, retry defaults.
func connectorDoc(url string, concurrency int) []byte {
	return []byte(`connectors:
  - name: bench
    kind: http
    subjects: [` + Subject + `]
    concurrency: ` + strconv.Itoa(concurrency) + `
    ordering: none
    http:
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
