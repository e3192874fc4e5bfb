package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/bench"
)

// TestRunReportsSaneValues runs the whole benchmark with tiny numbers. It
// asserts no timings, only that every measurement was made and is
// consistent.
func TestRunReportsSaneValues(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
	require.Greater(t, r.AttemptMS, 0.0)
	require.Zero(t, r.Retries)
	require.Zero(t, r.DeadLettered)
	require.Contains(t, progress.String(), "c=4: pipeline")

	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	require.Contains(t, table.String(), "pipeline ev/s")
	rows := 0
	for line := range strings.Lines(table.String()) {
		if f := strings.Fields(line); len(f) == 10 && f[0] == "4" { // the throughput table
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

func TestRunRefusesBadOptions(t *testing.T) {
	for _, o := range []bench.Options{
		{Events: -1},
		{Concurrency: []int{0}},
		{Rate: -5},
		{URL: "ftp://example.com"},
	} {
		_, err := bench.Run(context.Background(), o, &bytes.Buffer{})
		require.ErrorIs(t, err, bench.ErrInvalid, "%+v", o)
	}
}
