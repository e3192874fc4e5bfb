package test

import (
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
)

// TestReadyzFollowsTheNATSConnection runs serve against an external NATS
// and takes that NATS away: /readyz turns 503 and says why, /healthz
// stays 200 (the process is alive and reconnecting).
func TestReadyzFollowsTheNATSConnection(t *testing.T) {
	s := brokertest.RunServer(t)
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL="+s.ClientURL(),
		"EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", connectorDoc("court", "hms.workflow.updated", "http://127.0.0.1:9")))
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = env
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	serveReady(t, env, cmd)
	admin := "http://" + envValue(env, "EXTSYNC_HTTP_ADDR=")
	ready := func() (int, string) {
		resp, err := http.Get(admin + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := ready(); return code == http.StatusOK }, 30*time.Second, 50*time.Millisecond)

	s.Shutdown()
	s.WaitForShutdown()
	var body string
	require.Eventually(t, func() bool {
		var code int
		code, body = ready()
		return code == http.StatusServiceUnavailable
	}, 20*time.Second, 50*time.Millisecond)
	require.Contains(t, body, "not connected to NATS")
	_, code := serveGet(t, admin+"/healthz")
	require.Equal(t, http.StatusOK, code)
}
