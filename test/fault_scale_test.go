//go:build fault

package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// instanceStatus is what the fault tests read of a serve's one connector.
type instanceStatus struct {
	Delivered int64  // this instance's deliveries since it started
	Ordering  string // how it keeps versioned events in order: alone, claims, waiting
}

// instanceConnector is the status of the one connector of the serve
// whose admin API is at addr; false while it cannot be read.
func instanceConnector(addr string) (instanceStatus, bool) {
	resp, err := http.Get("http://" + addr + "/api/v1/connectors")
	if err != nil {
		return instanceStatus{}, false
	}
	defer resp.Body.Close()
	var all []instanceStatus
	if json.NewDecoder(resp.Body).Decode(&all) != nil || len(all) != 1 {
		return instanceStatus{}, false
	}
	return all[0], true
}

// instanceDelivered is the connector's delivered counter of the serve
// whose admin API is at addr, -1 while it cannot be read.
func instanceDelivered(addr string) int64 {
	if st, ok := instanceConnector(addr); ok {
		return st.Delivered
	}
	return -1
}

// TestFaultScaleOutAndIn scales out and in while a backlog drains, as
// KEDA does: 1 instance, then 3 at a quarter delivered, then back to 1
// (SIGTERM, as Kubernetes scales in) at two thirds. The instances share
// the stream on an external NATS; the connector keeps entity order.
// Every entity ends at its newest version, no entity ever receives a
// lower version after a higher one, nothing is lost. The instances run
// the binary built without -race, as in the load test: three race
// binaries with the race-built NATS and sink would not fit 2 cores.
// EXTSYNC_FAULT_SCALE sets the number of events (default 200,000).
func TestFaultScaleOutAndIn(t *testing.T) {
	events := 200_000
	if v, err := strconv.Atoi(os.Getenv("EXTSYNC_FAULT_SCALE")); err == nil && v > 0 {
		events = v
	}
	const versions = 10
	entities := events / versions
	events = entities * versions

	natsAddr, sink, srv := startVersionRig(t)
	// ordering is left at its default, entity.
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    concurrency: 64
    version: version
    retry: {max_attempts: 20, initial: 100ms, max: 1s, multiplier: 2, jitter: 0.2}
    http: {url: "%s/workflows/{id}", timeout: 5s}
`, srv.URL)
	conf := "EXTSYNC_CONNECTORS=" + binWriteFile(t, "c.yaml", doc)

	type instance struct {
		cmd       *exec.Cmd
		env       []string
		started   time.Time
		stopped   time.Time
		delivered int64
	}
	start := func() *instance {
		cmd, env := startPlainServe(t, natsAddr, conf)
		return &instance{cmd: cmd, env: env, started: time.Now()}
	}
	// stop reads the instance's delivered counter, then SIGTERMs it and
	// expects a clean exit; deliveries it finishes while draining come
	// after the read.
	stop := func(in *instance) {
		in.delivered = instanceDelivered(envValue(in.env, "EXTSYNC_HTTP_ADDR="))
		require.GreaterOrEqual(t, in.delivered, int64(0), "the instance's connector status")
		stopServe(t, in.cmd, time.Minute)
		in.stopped = time.Now()
	}

	first := start()
	began := time.Now()
	publishVersions(t, "nats://"+natsAddr, entities, versions)
	published := time.Since(began)

	require.Eventually(t, func() bool { return sink.count() >= events/4 }, 5*time.Minute, 20*time.Millisecond,
		"a quarter delivered by one instance")
	outAt, outTime := sink.count(), time.Now()
	second, third := start(), start()
	require.Eventually(t, func() bool { return sink.count() >= 2*events/3 }, 5*time.Minute, 20*time.Millisecond,
		"two thirds delivered")
	inAt, inTime := sink.count(), time.Now()
	stop(second)
	stop(third)
	require.Eventually(t, func() bool { return sink.reached(versions) == entities }, 5*time.Minute, 100*time.Millisecond,
		"every entity reaches its newest version with one instance left")
	took := time.Since(began)
	stop(first)
	// Deliveries the two instances finished while draining, after their
	// counters were read.
	drained := int64(sink.count()) - first.delivered - second.delivered - third.delivered

	v := sink.verdict(t, entities, versions)
	require.Zero(t, v.regressions, "no entity received a lower version after a higher one")

	rate := func(in *instance) string {
		return fmt.Sprintf("%d (%.0f/s)", in.delivered, float64(in.delivered)/in.stopped.Sub(in.started).Seconds())
	}
	reportFault(t, faultRow{Fault: "instances join and leave (1 → 3 → 1)",
		Injection: fmt.Sprintf("%d events (%d entities × %d versions) on an external NATS, entity ordering; 2 instances start at a quarter delivered, SIGTERMed at two thirds",
			events, entities, versions),
		Published: events, Delivered: v.distinct, Superseded: events - v.distinct - v.lost, Duplicated: v.dups, Lost: v.lost,
		Note: fmt.Sprintf("scaled out at %d, in at %d delivered; sink rate %.0f/s with 1, %.0f/s with 3, %.0f/s back at 1; "+
			"delivered per instance (API counter read before SIGTERM): %s, %d more finished in the two drains; "+
			"%.0f events/s end to end (published in %s); no version received after a newer one; each exit clean",
			outAt, inAt, float64(outAt)/outTime.Sub(began).Seconds(), float64(inAt-outAt)/inTime.Sub(outTime).Seconds(),
			float64(events-inAt)/began.Add(took).Sub(inTime).Seconds(),
			strings.Join([]string{rate(first), rate(second), rate(third)}, " / "), drained,
			float64(events)/took.Seconds(), published.Round(time.Second))})
}
