package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/service"
)

// trial is one concurrency's run: its sink, service and publisher.
type trial struct {
	o       Options
	res     Result
	snk     *sink        // nil with --url
	nats    *natsProcess // nil when embedded
	url     string
	g       *generator
	svc     *service.Service
	conns   []config.Connector
	run     *running
	runCtx  context.Context
	started bool
	ob      *observer
	pub     *publisher
	// peakBefore is the run's peak RSS before the drain's was measured.
	peakBefore uint64
	progress   func(string, ...any)
	cleanup    []func()
}

// runOne measures one concurrency: ceiling, preload, pipeline, latency.
func runOne(ctx context.Context, o Options, c int, profile string, progress func(string, ...any)) (Result, error) {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	t := &trial{o: o, res: Result{Concurrency: c, CPUProfile: profile}, g: newGenerator(o.Size, o.Events, o.Versions), progress: progress}
	defer t.close()
	steps := []func(context.Context) error{t.ceilingPhase, t.startService, t.throughputPhase, t.bridgePhase, t.snapshotPhase, t.ceilingAgain, t.latencyPhase}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return t.res, err
		}
	}
	t.res.Retries, t.res.DeadLettered = t.ob.retries.Load(), t.ob.deadLettered.Load()
	t.res.Superseded = t.ob.superseded.Load()
	var err error
	if t.res.PeakRSSBytes, err = peakRSS(); err != nil {
		progress("peak RSS not available: %v", err)
	}
	t.res.PeakRSSBytes = max(t.res.PeakRSSBytes, t.peakBefore)
	if t.nats != nil {
		if t.res.NATSPeakRSSBytes, err = t.nats.peakRSS(); err != nil {
			progress("nats-server peak RSS not available: %v", err)
		}
	}
	return t.res, nil
}

func (t *trial) close() {
	for i := len(t.cleanup) - 1; i >= 0; i-- {
		t.cleanup[i]()
	}
}

// ceilingPhase measures raw HTTP on the sink, before any NATS exists.
func (t *trial) ceilingPhase(ctx context.Context) error {
	base := t.o.URL
	if base == "" {
		var err error
		if t.snk, err = startSink(); err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		t.cleanup = append(t.cleanup, t.snk.close)
		base = t.snk.url
		t.snk.expect(newTally(phaseCeiling, t.o.Events, false))
	}
	t.url = target(base)
	return t.measureCeiling(ctx)
}

// ceilingAgain measures raw HTTP a second time, after the pipeline phase
// (extsync idle meanwhile), and sets the ceiling to the two runs
// combined: on shared cores the machine's speed drifts over a run, and a
// ceiling taken only before the pipeline would put all of that drift into
// the ratio. Bracketing the pipeline cancels it in part.
func (t *trial) ceilingAgain(ctx context.Context) error {
	if t.snk != nil {
		t.snk.expect(newTally(phaseCeiling, t.o.Events, false))
	}
	if err := t.measureCeiling(ctx); err != nil {
		return err
	}
	r := &t.res
	r.Ratio = r.PipelinePerSec / r.CeilingPerSec
	t.progress("raw HTTP ceiling again: %.0f ev/s; pipeline %.2f of the two combined (%.0f ev/s)",
		r.CeilingRunsPerSec[len(r.CeilingRunsPerSec)-1], r.Ratio, r.CeilingPerSec)
	return nil
}

// measureCeiling runs the ceiling once more and folds it into the result:
// the rate and CPU of all runs so far, as if one.
func (t *trial) measureCeiling(ctx context.Context) error {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	took, err := ceiling(ctx, t.url, t.g, t.o.Events, t.res.Concurrency)
	if err != nil {
		return err
	}
	cpu := perEvent(cpu0, cpuTime(), t.o.Events)
	runtime.ReadMemStats(&after)
	r := &t.res
	runs := float64(len(r.CeilingRunsPerSec))
	r.CeilingCPUMicros = (r.CeilingCPUMicros*runs + cpu) / (runs + 1)
	allocs := float64(after.Mallocs-before.Mallocs) / float64(t.o.Events)
	r.CeilingAllocsPerEvent = (r.CeilingAllocsPerEvent*runs + allocs) / (runs + 1)
	r.CeilingSeconds += took.Seconds()
	r.CeilingRunsPerSec = append(r.CeilingRunsPerSec, float64(t.o.Events)/took.Seconds())
	r.CeilingPerSec = float64(t.o.Events) * (runs + 1) / r.CeilingSeconds
	t.progress("raw HTTP ceiling %.0f ev/s", r.CeilingRunsPerSec[len(r.CeilingRunsPerSec)-1])
	return nil
}

// startService starts extsync as serve runs it, in a fresh store, and
// preloads the backlog; the pipeline does not consume yet.
func (t *trial) startService(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "extsync-bench-")
	if err != nil {
		return err
	}
	t.cleanup = append(t.cleanup, func() { _ = os.RemoveAll(dir) })
	file, err := config.Parse("bench-connectors.yaml",
		connectorDoc(t.url, t.res.Concurrency, t.o.Ordering, t.o.Versions > 0),
		func(string) (string, bool) { return "", false }, nil)
	if err != nil {
		return err
	}
	settings := config.Settings{
		NATSListen: "127.0.0.1:0", DataDir: dir, Stream: streamName,
		LogMaxAge: time.Hour, Drain: 10 * time.Second,
	}
	if t.o.NATS == NATSExternal {
		// Registered before the service, so stopped after it.
		if t.nats, err = startNATS(ctx, t.o.natsBin); err != nil {
			return err
		}
		t.cleanup = append(t.cleanup, t.nats.stop)
		settings.NATSURL = t.nats.url
	}
	t.conns = file.Connectors
	t.ob = &observer{}
	if t.svc, err = service.Start(ctx, settings, file.Connectors, service.Options{
		Kinds: catalog.Default(), Logger: t.o.Logger, OnRecord: t.ob.record, NoSnapshotWriter: true,
	}); err != nil {
		return err
	}
	t.run = &running{done: make(chan struct{})}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	t.runCtx = runCtx
	t.cleanup = append(t.cleanup, func() {
		stopRun()
		if !t.started { // Run is what closes the service
			t.run.start(runCtx, t.svc)
		}
		<-t.run.done
	})
	if t.pub, err = newPublisher(t.svc.NATSURL(), t.g); err != nil {
		return err
	}
	t.cleanup = append(t.cleanup, t.pub.close)
	t0 := time.Now()
	if err := t.pub.preload(ctx, phaseThroughput, t.o.Events); err != nil {
		return err
	}
	t.res.PreloadSeconds = time.Since(t0).Seconds()
	t.progress("preloaded %d events in %.1fs", t.o.Events, t.res.PreloadSeconds)
	return nil
}

// throughputPhase starts the pipeline and times draining the backlog.
func (t *trial) throughputPhase(ctx context.Context) error {
	tallies := []*tally{newTally(phaseThroughput, t.o.Events, false)}
	t.ob.tally.Store(tallies[0])
	// Versioned, the sink need not see every event: a version superseded
	// before it was sent is only acked. Its sync-log record still counts.
	if t.snk != nil && t.o.Versions == 0 {
		tallies = append(tallies, newTally(phaseThroughput, t.o.Events, false))
		t.snk.expect(tallies[1])
	}
	var order *orderCheck
	if t.snk != nil && t.g.entities > 0 {
		order = newOrderCheck(t.g.entities)
		t.snk.checkOrder(order)
		defer t.snk.checkOrder(nil)
	}
	stopProfile, err := startProfile(t.res.CPUProfile)
	if err != nil {
		return err
	}
	// The drain's own peak: what the preload and the ceiling freed goes
	// back first, so it does not count. The run's peak so far is kept.
	t.peakBefore, _ = peakRSS()
	runtime.GC()
	debug.FreeOSMemory()
	drainRSS := resetPeakRSS()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, natsCPU0 := cpuTime(), t.natsCPU()
	start := time.Now()
	t.started = true
	t.run.start(t.runCtx, t.svc)
	werr := waitAll(ctx, t.run, 30*time.Second, tallies...)
	var end time.Time
	for _, tl := range tallies {
		if _, last := tl.progress(); last.After(end) {
			end = last
		}
	}
	runtime.ReadMemStats(&after)
	cpu1, natsCPU1 := cpuTime(), t.natsCPU()
	if drainRSS {
		t.res.DrainPeakRSSBytes, _ = peakRSS()
	}
	if err := stopProfile(); err != nil && werr == nil {
		werr = err
	}
	if err := writeHeapProfile(t.res.CPUProfile); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("pipeline phase: %w", werr)
	}
	r := &t.res
	r.PipelineSeconds = end.Sub(start).Seconds()
	r.PipelinePerSec = float64(t.o.Events) / r.PipelineSeconds
	r.Ratio = r.PipelinePerSec / r.CeilingPerSec
	r.AllocsPerEvent = float64(after.Mallocs-before.Mallocs) / float64(t.o.Events)
	r.AllocBytesPerEvent = float64(after.TotalAlloc-before.TotalAlloc) / float64(t.o.Events)
	r.PipelineCPUMicros = perEvent(cpu0, cpu1, t.o.Events)
	r.PipelineNATSCPUMicros = perEvent(natsCPU0, natsCPU1, t.o.Events)
	r.AttemptMS = t.ob.meanAttemptMS()
	if err := settled(ctx, t.svc, 10*time.Second); err != nil {
		return err
	}
	if order != nil {
		r.OutOfOrder = order.count()
	}
	t.progress("pipeline %.0f ev/s (%.2f of the first ceiling), %.0f allocs/event, CPU %.0f µs/event (ceiling %.0f)",
		r.PipelinePerSec, r.Ratio, r.AllocsPerEvent, r.PipelineCPUMicros, r.CeilingCPUMicros)
	return nil
}

// latencyPhase publishes at a fixed rate with the pipeline running.
func (t *trial) latencyPhase(ctx context.Context) error {
	n := int(float64(t.o.Rate) * t.o.Duration.Seconds())
	if n <= 0 {
		return nil
	}
	sent := make([]atomic.Int64, n)
	t.ob.sent.Store(&sent)
	// With the in-process sink, latency is measured where the event
	// arrives; with a real system, when its outcome is stored.
	records := newTally(phaseLatency, n, t.snk == nil)
	t.ob.tally.Store(records)
	measured, waitFor := records, []*tally{records}
	if t.snk != nil {
		measured = newTally(phaseLatency, n, true)
		t.snk.expect(measured)
		// Versioned, a version superseded before it was sent never
		// reaches the sink; the records, which come after the sink's
		// answer, say when every event is settled.
		if t.o.Versions == 0 {
			waitFor = append(waitFor, measured)
		}
	}
	if err := t.pub.paced(ctx, phaseLatency, n, t.o.Rate, sent); err != nil {
		return err
	}
	if err := waitAll(ctx, t.run, 30*time.Second, waitFor...); err != nil {
		return fmt.Errorf("latency phase: %w", err)
	}
	t.res.Latency = summarise(measured.latencySamples())
	t.progress("latency p50 %.2fms p99 %.2fms p999 %.2fms at %d/s",
		t.res.Latency.P50MS, t.res.Latency.P99MS, t.res.Latency.P999MS, t.o.Rate)
	return nil
}
