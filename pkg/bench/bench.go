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
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/policy"
	"github.com/hms/extsync/pkg/service"
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
	// one keep-alive client, no NATS.
	CeilingPerSec float64 `json:"ceiling_events_per_sec"`
	// PipelinePerSec is the preloaded backlog drained through extsync:
	// from starting the pipeline until the sink has seen every event and
	// every one is acked.
	PipelinePerSec float64 `json:"pipeline_events_per_sec"`
	// Ratio is PipelinePerSec / CeilingPerSec.
	Ratio           float64 `json:"ratio"`
	CeilingSeconds  float64 `json:"ceiling_sec"`
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
	// Retries and DeadLettered count attempts that did not deliver (none
	// are expected against the in-process sink).
	Retries      int64  `json:"retries"`
	DeadLettered int64  `json:"dead_lettered"`
	CPUProfile   string `json:"cpu_profile,omitempty"`
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
		"ratio = pipeline / ceiling; both measured here, against the same sink at the same concurrency",
		"allocs/event: every heap allocation in this process during the pipeline phase, the embedded NATS server's and the sink's included",
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
	tally        atomic.Pointer[tally]
	sent         atomic.Pointer[[]atomic.Int64] // publish times of the latency phase
	retries      atomic.Int64
	deadLettered atomic.Int64
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

// runOne measures one concurrency: ceiling, preload, pipeline, latency.
func runOne(ctx context.Context, o Options, c int, profile string, progress func(string, ...any)) (Result, error) {
	res := Result{Concurrency: c, CPUProfile: profile}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	g := newGenerator(o.Size)

	base := o.URL
	var snk *sink
	if base == "" {
		var err error
		if snk, err = startSink(); err != nil {
			return res, fmt.Errorf("sink: %w", err)
		}
		defer snk.close()
		base = snk.url
	}
	url := target(base)

	// The raw HTTP ceiling, before any NATS exists.
	if snk != nil {
		snk.expect(newTally(phaseCeiling, o.Events, false))
	}
	took, err := ceiling(ctx, url, g, o.Events, c)
	if err != nil {
		return res, err
	}
	res.CeilingSeconds = took.Seconds()
	res.CeilingPerSec = float64(o.Events) / took.Seconds()
	progress("raw HTTP ceiling %.0f ev/s", res.CeilingPerSec)

	// extsync as serve runs it, in a fresh store.
	dir, err := os.MkdirTemp("", "extsync-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	file, err := config.Parse("bench-connectors.yaml", connectorDoc(url, c),
		func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		return res, err
	}
	settings := config.Settings{
		NATSListen: "127.0.0.1:0", DataDir: dir, Stream: streamName,
		LogMaxAge: time.Hour, Drain: 10 * time.Second,
	}
	ob := &observer{}
	svc, err := service.Start(ctx, settings, file.Connectors, service.Options{
		Registry: catalog.Default(), Logger: o.Logger, OnRecord: ob.record,
	})
	if err != nil {
		return res, err
	}
	run := &running{done: make(chan struct{})}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	started := false
	defer func() {
		stopRun()
		if !started { // Run is what closes the service
			run.start(runCtx, svc)
		}
		<-run.done
	}()

	pub, err := newPublisher(svc.NATSURL(), g)
	if err != nil {
		return res, err
	}
	defer pub.close()
	t0 := time.Now()
	if err := pub.preload(ctx, phaseThroughput, o.Events); err != nil {
		return res, err
	}
	res.PreloadSeconds = time.Since(t0).Seconds()
	progress("preloaded %d events in %.1fs", o.Events, res.PreloadSeconds)

	// Throughput: drain the backlog.
	tallies := []*tally{newTally(phaseThroughput, o.Events, false)}
	ob.tally.Store(tallies[0])
	if snk != nil {
		tallies = append(tallies, newTally(phaseThroughput, o.Events, false))
		snk.expect(tallies[1])
	}
	stopProfile, err := startProfile(profile)
	if err != nil {
		return res, err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	started = true
	run.start(runCtx, svc)
	werr := waitAll(ctx, run, 30*time.Second, tallies...)
	var end time.Time
	for _, t := range tallies {
		if _, last := t.progress(); last.After(end) {
			end = last
		}
	}
	runtime.ReadMemStats(&after)
	if err := stopProfile(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return res, fmt.Errorf("pipeline phase: %w", werr)
	}
	res.PipelineSeconds = end.Sub(start).Seconds()
	res.PipelinePerSec = float64(o.Events) / res.PipelineSeconds
	res.Ratio = res.PipelinePerSec / res.CeilingPerSec
	res.AllocsPerEvent = float64(after.Mallocs-before.Mallocs) / float64(o.Events)
	res.AllocBytesPerEvent = float64(after.TotalAlloc-before.TotalAlloc) / float64(o.Events)
	if err := settled(ctx, svc, 10*time.Second); err != nil {
		return res, err
	}
	progress("pipeline %.0f ev/s (%.2f of the ceiling), %.0f allocs/event",
		res.PipelinePerSec, res.Ratio, res.AllocsPerEvent)

	// Latency at a fixed rate, pipeline running.
	if n := int(float64(o.Rate) * o.Duration.Seconds()); n > 0 {
		sent := make([]atomic.Int64, n)
		ob.sent.Store(&sent)
		// With the in-process sink, latency is measured where the event
		// arrives; with a real system, when its outcome is stored.
		records := newTally(phaseLatency, n, snk == nil)
		ob.tally.Store(records)
		measured, waitFor := records, []*tally{records}
		if snk != nil {
			measured = newTally(phaseLatency, n, true)
			snk.expect(measured)
			waitFor = append(waitFor, measured)
		}
		if err := pub.paced(ctx, phaseLatency, n, o.Rate, sent); err != nil {
			return res, err
		}
		if err := waitAll(ctx, run, 30*time.Second, waitFor...); err != nil {
			return res, fmt.Errorf("latency phase: %w", err)
		}
		res.Latency = summarise(measured.latencySamples())
		progress("latency p50 %.2fms p99 %.2fms p999 %.2fms at %d/s",
			res.Latency.P50MS, res.Latency.P99MS, res.Latency.P999MS, o.Rate)
	}
	res.Retries, res.DeadLettered = ob.retries.Load(), ob.deadLettered.Load()
	if res.PeakRSSBytes, err = peakRSS(); err != nil {
		progress("peak RSS not available: %v", err)
	}
	return res, nil
}

// running is the service's Run in the background.
type running struct {
	done chan struct{}
	err  error
}

func (r *running) start(ctx context.Context, svc *service.Service) {
	go func() {
		defer close(r.done)
		r.err = svc.Run(ctx)
	}()
}

// waitAll waits until every tally is complete. It gives up when ctx ends,
// when the service stops, or when stall passes without a new event.
func waitAll(ctx context.Context, run *running, stall time.Duration, ts ...*tally) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCount, lastMove := -1, time.Now()
	for _, t := range ts {
		for done := false; !done; {
			select {
			case <-t.done:
				done = true
			case <-ctx.Done():
				return ctx.Err()
			case <-run.done:
				return fmt.Errorf("extsync stopped: %v", run.err)
			case <-tick.C:
				n, _ := t.progress()
				if n != lastCount {
					lastCount, lastMove = n, time.Now()
				} else if time.Since(lastMove) > stall {
					return fmt.Errorf("stalled: %d of %d events after %s without progress", n, t.want, stall)
				}
			}
		}
	}
	return nil
}

// settled waits until the connector's consumer has nothing pending: every
// event delivered and acked.
func settled(ctx context.Context, svc *service.Service, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	cons, err := svc.JetStream().Consumer(ctx, streamName, durable)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", durable, err)
	}
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("consumer %s: %w", durable, err)
			}
			return fmt.Errorf("consumer %s: %d ack pending, %d pending %s after the last delivery",
				durable, info.NumAckPending, info.NumPending, within)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// startProfile starts a CPU profile into path ("" for none).
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
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
