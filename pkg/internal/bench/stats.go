package bench

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"time"
)

// Latency summarises end-to-end latencies: publish to receipt by the
// sink (or, with a real URL, to the settled sync-log record).
type Latency struct {
	Samples int     `json:"samples"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	P999MS  float64 `json:"p999_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// summarise sorts ds and reads its nearest-rank percentiles.
func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{
		Samples: len(ds),
		P50MS:   ms(percentile(ds, 0.50)),
		P99MS:   ms(percentile(ds, 0.99)),
		P999MS:  ms(percentile(ds, 0.999)),
		MaxMS:   ms(ds[len(ds)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// resetPeakRSS sets this process's VmHWM back to its current RSS, so the
// next reading is the peak of what follows (Linux 4.0+). It reports
// whether that worked; where it did not, peaks include earlier runs.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS reads this process's peak resident set size (VmHWM) in bytes.
func peakRSS() (uint64, error) { return vmHWM("/proc/self/status") }

// vmHWM reads the peak resident set size from a /proc/<pid>/status file.
func vmHWM(path string) (uint64, error) {
	raw, err := os.ReadFile(path) // #nosec G304 -- a /proc path

	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		num, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		kb, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmHWM in " + path)
}
