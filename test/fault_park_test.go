//go:build fault

package test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultKilledWhileDeadLettering(t *testing.T) {
	t.Parallel()
	sink := newFaultSink(func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, `{"error":"hearing date is in the past"}`, http.StatusUnprocessableEntity)
		return true
	})
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	env, serve, js := faultServe(t, sinkDoc(srv.URL, ""))
	const n = 2000
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)
	var atKill int
	require.Eventually(t, func() bool { atKill = len(deadLettered(t, js)); return atKill >= 300 }, time.Minute, 20*time.Millisecond)
	require.NoError(t, serve.Process.Signal(syscall.SIGKILL)) // its embedded NATS goes with it
	_ = serve.Wait()
	require.Less(t, atKill, n, "killed while dead-lettering")

	serve = killStartTo(t, env, &lockedBuffer{})
	require.Eventually(t, func() bool { return len(deadLettered(t, js)) == n }, 2*time.Minute, 250*time.Millisecond)
	dups := 0
	for _, c := range deadLettered(t, js) {
		dups += c - 1
	}
	stopServe(t, serve, time.Minute)
	reportFault(t, faultRow{Fault: "extsync SIGKILLed while dead-lettering",
		Injection: fmt.Sprintf("sink refuses all (422); SIGKILL after %d of %d parked, restart", atKill, n),
		Published: n, DeadLettered: n, Duplicated: dups,
		Note: "each refused event parked once: the dead letter's message id deduplicates a second park"})
}

func TestFaultUntrustedCertificateThenFixed(t *testing.T) {
	t.Parallel()
	sink := newFaultSink(nil)
	srv := httptest.NewUnstartedServer(sink)
	// Every refused handshake is expected here; logged, they would bury
	// the output of a failing test.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	env, serve, js := faultServe(t, sinkDoc(srv.URL, ""))
	const n = 200
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)
	require.Eventually(t, func() bool { return len(deadLettered(t, js)) == n }, time.Minute, 100*time.Millisecond,
		"parked at once: no retry can fix a certificate")
	ls := binRun(t, env[2:], "dlq", "ls", "--json")
	require.Equal(t, n, strings.Count(ls.stdout, "tls: failed to verify certificate"), "each reason names the certificate")
	stopServe(t, serve, time.Minute)

	// The operator trusts the system's CA and replays.
	ca := filepath.Join(t.TempDir(), "court-ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	env = append(env, "SSL_CERT_FILE="+ca)
	serve = killStartTo(t, env, &lockedBuffer{})
	res := binRun(t, env[2:], "dlq", "replay", "--all")
	require.Equal(t, 0, res.code, res.stderr)
	delivered, dups, dead := settleAll(t, js, sink, serve, n, time.Minute)
	require.Zero(t, dead)
	reportFault(t, faultRow{Fault: "TLS certificate does not verify", Injection: "system's certificate from an untrusted CA",
		Published: n, Delivered: delivered, Duplicated: dups, DeadLettered: dead, Lost: n - delivered - dead,
		Note: "all parked at once as permanent, reason names the certificate; delivered after trusting the CA (SSL_CERT_FILE) and `dlq replay --all`"})
}

func TestFaultUnresolvableName(t *testing.T) {
	t.Parallel()
	doc := `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    ordering: none
    retry: {max_attempts: 3, initial: 100ms, max: 300ms}
    http: {url: "http://court.invalid/workflows/{id}", timeout: 2s}
`
	env, serve, js := faultServe(t, doc)
	const n = 100
	killPublish(t, "nats://"+envValue(env, "EXTSYNC_NATS_LISTEN="), n)
	require.Eventually(t, func() bool { return len(deadLettered(t, js)) == n }, 2*time.Minute, 100*time.Millisecond)
	var letters []struct{ Reason string }
	require.NoError(t, json.Unmarshal([]byte(binRun(t, env[2:], "dlq", "ls", "--json").stdout), &letters))
	require.Len(t, letters, n)
	for _, l := range letters {
		require.Contains(t, l.Reason, "court.invalid", "the reason names the host")
	}
	dead := len(deadLettered(t, js))
	stopServe(t, serve, time.Minute)
	reportFault(t, faultRow{Fault: "DNS name does not resolve", Injection: "url host court.invalid",
		Published: n, DeadLettered: dead,
		Note: "transient: retried 3 times, then parked as exhausted naming the host; replay once DNS is fixed"})
}
