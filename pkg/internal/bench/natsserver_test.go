package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// TestNATSProcessStartsAndStops starts the external server as the
// benchmark does, uses it, and checks that stop leaves no process and no
// store behind. t.Cleanup stops it when an assertion fails first.
func TestNATSProcessStartsAndStops(t *testing.T) {
	// Generous: the first test to run builds nats-server, minutes on a
	// cold build cache with the rest of the suite beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin, how, err := natsBinary(ctx, "")
	require.NoError(t, err)
	require.NotEmpty(t, how)
	p, err := startNATS(ctx, bin)
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.stop()
		}
	})

	nc, err := nats.Connect(p.url)
	require.NoError(t, err, "url %s", p.url)
	defer nc.Close()
	// A round trip makes the server work: its CPU reading must move.
	before := p.cpu()
	for range 200 {
		_, err := nc.Request("$JS.API.INFO", nil, 5*time.Second)
		require.NoError(t, err, "JetStream is on")
	}
	require.Greater(t, p.cpu(), before)
	rss, err := p.peakRSS()
	require.NoError(t, err)
	require.Greater(t, rss, uint64(0))

	p.stop()
	stopped = true
	select {
	case <-p.done:
	default:
		t.Fatal("stop returned with the process running")
	}
	_, err = os.Stat(p.dir)
	require.True(t, os.IsNotExist(err), "store removed: %v", err)
}

// TestNATSBinaryNamed takes --nats-server as given, and refuses a path
// that does not exist.
func TestNATSBinaryNamed(t *testing.T) {
	_, _, err := natsBinary(context.Background(), "/nonexistent/nats-server")
	require.ErrorContains(t, err, "--nats-server")
}

func TestGeneratorVersionsRoundRobin(t *testing.T) {
	g := newGenerator(300, 10, 5) // 2 entities, 5 versions each
	for n, want := range [][2]string{{"e-0", "1"}, {"e-1", "1"}, {"e-0", "2"}, {"e-1", "2"}, {"e-0", "3"}} {
		key, v := g.entity(eventID(phaseThroughput, n))
		require.Equal(t, want, [2]string{key, v}, "event %d", n)
	}
	key, v := g.entity(eventID(phaseLatency, 0))
	require.Equal(t, [2]string{"e-0", "6"}, [2]string{key, v}, "the latency phase's versions follow the backlog's")
	ev := g.event(eventID(phaseThroughput, 3), time.Now())
	require.Contains(t, string(ev), `"subject":"e-1"`)
	require.Contains(t, string(ev), `"version":2,`)
	require.Len(t, ev, 300)

	key, v = newGenerator(300, 10, 0).entity("t-7")
	require.Equal(t, [2]string{"t-7", ""}, [2]string{key, v}, "unversioned: each event its own entity")
}
