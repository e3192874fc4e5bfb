package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/bench"
)

// TestRunReportsSaneValues runs the whole benchmark with tiny numbers. It
// asserts no timings, only that every measurement was made and is
// consistent.
func TestRunReportsSaneValues(t *testing.T) {
	// Generous: the first test to run builds nats-server, minutes on a
	// cold build cache with the rest of the suite beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := bench.Run(ctx, bench.Options{
		Events: 2_000, Size: 300, Concurrency: []int{4}, Rate: 200, Duration: time.Second,
	}, &progress)
	require.NoError(t, err, progress.String())
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	require.Equal(t, 4, r.Concurrency)
	require.Greater(t, r.CeilingPerSec, 0.0)
	require.Len(t, r.CeilingRunsPerSec, 2, "raw HTTP before and after the pipeline")
	require.InDelta(t, r.CeilingPerSec, 2/(1/r.CeilingRunsPerSec[0]+1/r.CeilingRunsPerSec[1]), 1e-6*r.CeilingPerSec,
		"the ceiling is the two runs combined: all their events over all their time")
	require.InDelta(t, r.PipelinePerSec/r.CeilingPerSec, r.Ratio, 1e-9)
	require.Greater(t, r.PipelinePerSec, 0.0)
	require.Greater(t, r.Ratio, 0.0)
	require.Less(t, r.Ratio, 2.0)
	require.Equal(t, 200, r.Latency.Samples)
	require.Greater(t, r.Latency.P50MS, 0.0)
	require.LessOrEqual(t, r.Latency.P50MS, r.Latency.P99MS)
	require.LessOrEqual(t, r.Latency.P99MS, r.Latency.P999MS)
	require.LessOrEqual(t, r.Latency.P999MS, r.Latency.MaxMS)
	require.Greater(t, r.PeakRSSBytes, uint64(0))
	require.Greater(t, r.AllocsPerEvent, 0.0)
	require.Greater(t, r.CeilingAllocsPerEvent, 0.0)
	require.Greater(t, r.CeilingCPUMicros, 0.0)
	require.Greater(t, r.PipelineCPUMicros, 0.0)
	require.Greater(t, r.SnapshotPerSec, 0.0)
	require.Greater(t, r.SnapshotCPUMicros, 0.0)
	require.Greater(t, r.AttemptMS, 0.0)
	require.Zero(t, r.Retries)
	require.Zero(t, r.DeadLettered)
	require.Contains(t, progress.String(), "c=4: pipeline")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "pipeline ev/s")
	rows := 0
	for line := range strings.Lines(table.String()) {
		if f := strings.Fields(line); len(f) == 11 && f[0] == "4" { // the throughput table
			rows++
		}
	}
	require.Equal(t, 1, rows, table.String())

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var back bench.Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, rep.Results[0].Ratio, back.Results[0].Ratio)
}

// TestRunRefusesMissingNATSServer: a named binary that is not there is an
// error, not a quiet fall back to embedded.
func TestRunRefusesMissingNATSServer(t *testing.T) {
	_, err := bench.Run(context.Background(), bench.Options{Events: 10, NATSServer: "/nonexistent/nats-server"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "--nats-server")
}

func TestRunRefusesBadOptions(t *testing.T) {
	for _, o := range []bench.Options{
		{Events: -1},
		{Concurrency: []int{0}},
		{Rate: -5},
		{URL: "ftp://example.com"},
		{Ordering: "strict"},
		{NATS: "remote"},
		{Events: 10, Versions: 11},
		{NATS: bench.NATSEmbedded, NATSServer: "/usr/bin/nats-server"},
	} {
		_, err := bench.Run(context.Background(), o, &bytes.Buffer{})
		require.ErrorIs(t, err, bench.ErrInvalid, "%+v", o)
	}
}

// TestRunExternalVersionedBridge runs what users run, tiny: nats-server in
// its own process, versioned events, ordering entity, with the bare
// bridge; then --quick's floor on that report.
func TestRunExternalVersionedBridge(t *testing.T) {
	// Generous: the first test to run builds nats-server, minutes on a
	// cold build cache with the rest of the suite beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	rep, err := bench.Run(ctx, bench.Options{
		Events: 600, Size: 300, Concurrency: []int{8}, Versions: 3, NATS: bench.NATSExternal,
		Rate: 200, Duration: 500 * time.Millisecond,
	}, &progress)
	require.NoError(t, err, progress.String())
	require.Equal(t, bench.NATSExternal, rep.NATS)
	require.NotEmpty(t, rep.NATSServer)
	require.Equal(t, 3, rep.Versions)
	require.Equal(t, "entity", rep.Ordering, "the product's default")
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	for name, v := range map[string]float64{
		"ceiling": r.CeilingPerSec, "pipeline": r.PipelinePerSec, "bridge": r.BridgePerSec,
		"ratio": r.Ratio, "bridge ratio": r.BridgeRatio,
		"pipeline CPU": r.PipelineCPUMicros, "bridge CPU": r.BridgeCPUMicros,
		"NATS CPU pipeline": r.PipelineNATSCPUMicros, "NATS CPU bridge": r.BridgeNATSCPUMicros,
		"snapshot": r.SnapshotPerSec, "snapshot CPU": r.SnapshotCPUMicros, "NATS CPU snapshot": r.SnapshotNATSCPUMicros,
	} {
		require.Greater(t, v, 0.0, name)
	}
	require.InDelta(t, r.PipelinePerSec/r.BridgePerSec, r.BridgeRatio, 1e-9)
	require.Greater(t, r.NATSPeakRSSBytes, uint64(0))
	require.Equal(t, 100, r.Latency.Samples)
	require.Zero(t, r.DeadLettered)
	require.Contains(t, progress.String(), "c=8: bare bridge")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var fields struct {
		NATS    string           `json:"nats"`
		Results []map[string]any `json:"results"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &fields))
	require.Equal(t, "external", fields.NATS)
	for _, k := range []string{"bridge_events_per_sec", "pipeline_bridge_ratio", "pipeline_nats_cpu_us_per_event", "bridge_nats_cpu_us_per_event",
		"snapshot_events_per_sec", "snapshot_cpu_us_per_event", "snapshot_nats_cpu_us_per_event"} {
		require.Contains(t, fields.Results[0], k)
	}
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "bridge ratio")
	require.Contains(t, table.String(), "NATS CPU µs/ev pipeline")
	require.Contains(t, table.String(), "CPU µs/ev snapshot")

	// --quick's floor: an impossible one fails, naming the figures; none
	// and a low one pass.
	err = rep.CheckBridgeRatio(100)
	require.ErrorIs(t, err, bench.ErrBelowFloor)
	require.ErrorContains(t, err, "c=8")
	require.NoError(t, rep.CheckBridgeRatio(0))
	require.NoError(t, rep.CheckBridgeRatio(r.BridgeRatio/2))

	// Ordering entity: the sink never had a version after a newer one,
	// and a run where it had fails.
	require.Contains(t, fields.Results[0], "out_of_order")
	require.Zero(t, r.OutOfOrder)
	require.NoError(t, rep.CheckOrder())
	rep.Results[0].OutOfOrder = 2
	require.ErrorIs(t, rep.CheckOrder(), bench.ErrOutOfOrder)
	rep.Ordering = "none"
	require.NoError(t, rep.CheckOrder(), "without ordering, versions may cross")
}

// TestQuickDefaultsKeepGivenFlags: --quick fills in only what the command
// line left out.
func TestQuickDefaultsKeepGivenFlags(t *testing.T) {
	given := map[string]bool{"events": true, "min-bridge-ratio": true}
	o, floor := bench.Options{Events: 123, Concurrency: []int{1, 8}}.QuickDefaults(func(f string) bool { return given[f] }, 0.7)
	require.Equal(t, 123, o.Events)
	require.Equal(t, bench.Quick.Concurrency, o.Concurrency)
	require.Equal(t, bench.NATSExternal, o.NATS)
	require.Equal(t, bench.Quick.Versions, o.Versions)
	require.InDelta(t, 0.7, floor, 0)

	_, floor = bench.Options{}.QuickDefaults(func(string) bool { return false }, 0)
	require.InDelta(t, bench.QuickMinBridgeRatio, floor, 0)
}
