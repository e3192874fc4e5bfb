package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report for people: throughput and latency first,
// then what each event cost.
func (r Report) WriteTable(w io.Writer) error {
	versions := "unversioned"
	if r.Versions > 0 {
		versions = fmt.Sprintf("%d versions per entity", r.Versions)
	}
	fmt.Fprintf(w, "extsync bench: %s events of %d B (%s, ordering %s), NATS %s, sink %s; latency at %s/s for %gs; GOMAXPROCS %d, %s\n",
		thousands(float64(r.Events)), r.EventBytes, versions, r.Ordering, r.NATS, r.Sink,
		thousands(float64(r.LatencyRate)), r.LatencyDuration, r.GOMAXPROCS, r.GoVersion)
	if r.NATSServer != "" {
		fmt.Fprintf(w, "nats-server: %s\n", r.NATSServer)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\tceiling ev/s\tbridge ev/s\tpipeline ev/s\tsnapshot ev/s\tratio\tbridge ratio\tp50 ms\tp99 ms\tp999 ms\tattempt ms\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t\n",
			res.Concurrency, thousands(res.CeilingPerSec), thousands(res.BridgePerSec), thousands(res.PipelinePerSec),
			thousands(res.SnapshotPerSec),
			res.Ratio, res.BridgeRatio, res.Latency.P50MS, res.Latency.P99MS, res.Latency.P999MS, res.AttemptMS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "concurrency\tCPU µs/ev ceiling\tCPU µs/ev bridge\tCPU µs/ev pipeline\tCPU µs/ev snapshot\tNATS CPU µs/ev bridge\tNATS CPU µs/ev pipeline\tNATS CPU µs/ev snapshot\tallocs/ev ceiling\tallocs/ev pipeline\tKB/event\tpeak RSS MB\tdrain RSS MB\tNATS peak RSS MB\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			res.Concurrency, res.CeilingCPUMicros, res.BridgeCPUMicros, res.PipelineCPUMicros, res.SnapshotCPUMicros,
			res.BridgeNATSCPUMicros, res.PipelineNATSCPUMicros, res.SnapshotNATSCPUMicros, res.CeilingAllocsPerEvent, res.AllocsPerEvent,
			res.AllocBytesPerEvent/1024, float64(res.PeakRSSBytes)/(1<<20), float64(res.DrainPeakRSSBytes)/(1<<20),
			float64(res.NATSPeakRSSBytes)/(1<<20))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, res := range r.Results {
		if res.Retries > 0 || res.DeadLettered > 0 {
			fmt.Fprintf(w, "c=%d: %d attempts retried, %d dead-lettered: the numbers above include them\n",
				res.Concurrency, res.Retries, res.DeadLettered)
		}
		if res.OutOfOrder > 0 {
			fmt.Fprintf(w, "c=%d: %d deliveries of a version older than one the sink already had\n", res.Concurrency, res.OutOfOrder)
		}
		if res.Superseded > 0 {
			fmt.Fprintf(w, "c=%d: %d versions superseded (acked, a newer one sent instead)\n", res.Concurrency, res.Superseded)
		}
		if res.CPUProfile != "" {
			fmt.Fprintf(w, "c=%d: CPU profile of the pipeline phase in %s\n", res.Concurrency, res.CPUProfile)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "- "+n)
	}
	return nil
}

// WriteJSON prints the report as one JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// thousands formats a rate as an integer with thousands separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
