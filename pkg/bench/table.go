package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report for people.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "extsync bench: %s events of %d B, sink %s; latency at %s/s for %gs; GOMAXPROCS %d, %s\n\n",
		thousands(float64(r.Events)), r.EventBytes, r.Sink, thousands(float64(r.LatencyRate)),
		r.LatencyDuration, r.GOMAXPROCS, r.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\tceiling ev/s\tpipeline ev/s\tratio\tp50 ms\tp99 ms\tp999 ms\tpeak RSS MB\tallocs/ev ceiling\tallocs/ev pipeline\tKB/event\tCPU µs/ev ceiling\tCPU µs/ev pipeline\tattempt ms\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.3f\t\n",
			res.Concurrency, thousands(res.CeilingPerSec), thousands(res.PipelinePerSec), res.Ratio,
			res.Latency.P50MS, res.Latency.P99MS, res.Latency.P999MS,
			float64(res.PeakRSSBytes)/(1<<20), res.CeilingAllocsPerEvent, res.AllocsPerEvent, res.AllocBytesPerEvent/1024,
			res.CeilingCPUMicros, res.PipelineCPUMicros, res.AttemptMS)
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
