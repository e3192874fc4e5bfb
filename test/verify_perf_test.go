//go:build perf

package test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestVerifyRSS runs `extsync verify --all` over 10,000 and 100,000
// entities against a local HTTP system, NATS in another process (a
// serve's embedded server), and reports entities/s and the verify
// process's peak RSS, without a rate cap and with --rate 500/s on a
// sample. Run it with
//
//	go test -tags perf -run VerifyRSS -v ./test
func TestVerifyRSS(t *testing.T) {
	for _, n := range []int{10_000, 100_000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) { verifyRSS(t, n) })
	}
}

func verifyRSS(t *testing.T, n int) {
	// The system holds what it was sent: each entity's record, served back
	// by its id.
	sys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = fmt.Fprintf(w, `{"id":%q,"name":"Attorney Rotation","room":"4B"}`, strings.TrimPrefix(r.URL.Path, "/"))
		}
	}))
	t.Cleanup(sys.Close)
	doc := connectorDoc("court", "hms.idle.updated", sys.URL) + "    skip_unchanged: true\n    concurrency: 64\n"
	env := append(binBaseEnv(t), "EXTSYNC_LOG_LEVEL=error", "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", doc))
	killStart(t, env)
	nc, err := nats.Connect("nats://" + envValue(env, "EXTSYNC_NATS_LISTEN="))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := range n {
		_, err := js.PublishAsync("hms.idle.updated",
			fmt.Appendf(nil, `{"id":"wf-%d","name":"Attorney Rotation","room":"4B"}`, i))
		require.NoError(t, err)
		if i%1024 == 1023 || i == n-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				t.Fatal("publishing timed out")
			}
		}
	}
	require.Eventually(t, func() bool {
		c, err := js.Consumer(ctx, "HMS_EVENTS", "extsync-court")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, 5*time.Minute, 200*time.Millisecond, "every event delivered")

	took, kb, out := verifyPeak(t, env, "--all")
	require.Contains(t, out, fmt.Sprintf(`"in_step": %d`, n))
	t.Logf("%d entities, no rate cap: %s, %.0f entities/s, verify peak RSS %d KB (%.1f MB)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), kb, float64(kb)/1024)
	if n <= 10_000 {
		took, _, _ = verifyPeak(t, env, "--sample", "20%", "--rate", "500/s")
		t.Logf("%d entities, --sample 20%% --rate 500/s: %s, %.0f entities/s", n/5, took.Round(time.Millisecond),
			float64(n/5)/took.Seconds())
	}
}

// verifyPeak runs `extsync verify court --json` with args and returns
// how long it took and its peak RSS (VmHWM) in KB, read before it exits.
func verifyPeak(t *testing.T, env []string, args ...string) (time.Duration, int, string) {
	cmd := exec.Command(plainBinary(t), append([]string{"verify", "court", "--json"}, args...)...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout = &out
	start := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	peak := 0
	for {
		select {
		case err := <-done:
			require.NoError(t, err, out.String())
			return time.Since(start), peak, out.String()
		case <-time.After(20 * time.Millisecond):
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
						if kb, _ := strconv.Atoi(f[1]); kb > peak {
							peak = kb
						}
					}
				}
			}
		}
	}
}
