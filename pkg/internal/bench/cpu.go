package bench

import (
	"syscall"
	"time"
)

// cpuTime is the CPU this process has used, user and system together.
// Divided by the events of a phase it says what one event costs the
// machine, which a throughput ratio on shared cores cannot: a pipeline
// that burns three times the ceiling's CPU per event is CPU-bound long
// before it is latency-bound.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perEvent is the CPU between two readings, per event, in microseconds.
func perEvent(before, after time.Duration, events int) float64 {
	if after <= before || events <= 0 {
		return 0
	}
	return float64(after-before) / float64(time.Microsecond) / float64(events)
}
