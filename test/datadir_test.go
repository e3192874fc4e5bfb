package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecondServeOnTheSameDataDirExits starts serve with the embedded
// server, then a second one on the same EXTSYNC_DATA_DIR: the second
// exits 1 naming the directory and the first one's PID.
func TestSecondServeOnTheSameDataDirExits(t *testing.T) {
	conf := binWriteFile(t, "c.yaml", connectorDoc("court", "hms.workflow.updated", "http://127.0.0.1:1"))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf)
	first := killStart(t, env)
	dataDir := envValue(env, "EXTSYNC_DATA_DIR=")

	second := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf)
	setEnvValue(t, second, "EXTSYNC_DATA_DIR=", dataDir)
	res := binRun(t, second[2:], "serve")
	require.Equal(t, 1, res.code, res.stderr)
	require.Contains(t, res.stderr, dataDir)
	require.Contains(t, res.stderr, fmt.Sprintf("pid %d", first.Process.Pid))
	require.False(t, strings.Contains(res.stderr, "ready"), res.stderr)
}
