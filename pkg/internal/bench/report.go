package bench

import (
	"errors"
	"fmt"
	"time"
)

// Report is one run's measurements.
type Report struct {
	Events          int     `json:"events"`
	EventBytes      int     `json:"event_bytes"`
	LatencyRate     int     `json:"latency_rate_per_sec"`
	LatencyDuration float64 `json:"latency_duration_sec"`
	Sink            string  `json:"sink"`
	// NATS is external (nats-server in its own process) or embedded;
	// NATSServer says which binary and how it was found.
	NATS       string `json:"nats"`
	NATSServer string `json:"nats_server,omitempty"`
	// Versions per entity (0: unversioned) and the connector's ordering.
	Versions   int       `json:"versions"`
	Ordering   string    `json:"ordering"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	GoVersion  string    `json:"go_version"`
	Results    []Result  `json:"results"`
	Notes      []string  `json:"notes"`
	Started    time.Time `json:"started"`
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
	Ratio float64 `json:"ratio"`
	// BridgePerSec is the bare bridge (bridge.go) draining the same
	// backlog from the same NATS to the same sink, after the pipeline;
	// BridgeRatio is PipelinePerSec / BridgePerSec: what extsync's
	// guarantees cost against the least a bridge does.
	BridgePerSec    float64 `json:"bridge_events_per_sec"`
	BridgeRatio     float64 `json:"pipeline_bridge_ratio"`
	BridgeSeconds   float64 `json:"bridge_sec"`
	BridgeCPUMicros float64 `json:"bridge_cpu_us_per_event"`
	CeilingSeconds  float64 `json:"ceiling_sec"` // both runs
	PreloadSeconds  float64 `json:"preload_sec"`
	PipelineSeconds float64 `json:"pipeline_sec"`
	// Latency is publish → receipt at the fixed rate, pipeline running.
	Latency Latency `json:"latency"`
	// PeakRSSBytes is the process's VmHWM over this concurrency's run
	// (preload, pipeline, latency): extsync, the embedded server, the
	// publisher and the in-process sink together.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// DrainPeakRSSBytes is the VmHWM over the pipeline phase alone, reset
	// as it starts (after a collection returned what the earlier phases
	// freed): extsync draining the backlog, with the sink beside it.
	DrainPeakRSSBytes uint64 `json:"drain_peak_rss_bytes"`
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
	// PipelineNATSCPUMicros and BridgeNATSCPUMicros are the external
	// nats-server's CPU per event in those phases (0 when embedded: its
	// CPU is then in the process's), and NATSPeakRSSBytes its VmHWM.
	PipelineNATSCPUMicros float64 `json:"pipeline_nats_cpu_us_per_event"`
	// SnapshotPerSec is the snapshot writer building EXTSYNC_SNAPSHOT from
	// the preloaded backlog alone (the pipeline idle), and its CPU and the
	// external nats-server's per event: what keeping the snapshot adds to
	// serve.
	SnapshotPerSec        float64 `json:"snapshot_events_per_sec"`
	SnapshotSeconds       float64 `json:"snapshot_sec"`
	SnapshotCPUMicros     float64 `json:"snapshot_cpu_us_per_event"`
	SnapshotNATSCPUMicros float64 `json:"snapshot_nats_cpu_us_per_event"`
	BridgeNATSCPUMicros   float64 `json:"bridge_nats_cpu_us_per_event"`
	NATSPeakRSSBytes      uint64  `json:"nats_peak_rss_bytes"`
	// AttemptMS is the mean time of one delivery attempt in the pipeline
	// phase (guard, mapping and the external call), as the sync log
	// records it: against 1/PipelinePerSec per worker it shows how much
	// of an event's time is spent around the call rather than in it.
	AttemptMS float64 `json:"attempt_ms"`
	// Superseded counts versions acked without being sent because a
	// newer one of their entity was (ordering entity).
	Superseded int64 `json:"superseded"`
	// OutOfOrder counts, for versioned events, deliveries the sink
	// received after a newer version of their entity (with ordering
	// none they happen; with entity, never).
	OutOfOrder   int64  `json:"out_of_order"`
	Retries      int64  `json:"retries"`
	DeadLettered int64  `json:"dead_lettered"`
	CPUProfile   string `json:"cpu_profile,omitempty"`
}

// ErrBelowFloor marks a run whose pipeline fell below the bare bridge by
// more than the floor allows.
var ErrBelowFloor = errors.New("pipeline below the bare-bridge floor")

// CheckBridgeRatio fails when any concurrency's pipeline/bare-bridge ratio
// is below floor (0: no floor). It guards against a collapse of
// throughput, not a target: on shared cores a single run's ratio moves.
func (r Report) CheckBridgeRatio(floor float64) error {
	if floor <= 0 {
		return nil
	}
	for _, res := range r.Results {
		if res.BridgeRatio < floor {
			return fmt.Errorf("%w: c=%d: pipeline %.0f ev/s is %.2f of the bare bridge's %.0f ev/s, below %.2f",
				ErrBelowFloor, res.Concurrency, res.PipelinePerSec, res.BridgeRatio, res.BridgePerSec, floor)
		}
	}
	return nil
}
