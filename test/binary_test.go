package test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/extsync once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "extsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "extsync")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/extsync")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, binErr)
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// binResult is a finished run of the binary.
type binResult struct {
	code           int
	stdout, stderr string
}

// binRun runs the binary to completion with env (added to a clean
// EXTSYNC_-free environment) and a deadline.
func binRun(t *testing.T, env []string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(binBaseEnv(t), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return binResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// binBaseEnv keeps PATH and HOME and points data at a temp dir, so no
// setting of the developer's shell leaks into a test. serve binds port 0
// and reports the ports it got in its ready file (see serveReady): a port
// picked here and freed again could be taken by another process first.
func binBaseEnv(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"EXTSYNC_DATA_DIR=" + filepath.Join(dir, "data"),
		"EXTSYNC_NATS_LISTEN=127.0.0.1:0",
		"EXTSYNC_HTTP_ADDR=127.0.0.1:0",
		"EXTSYNC_READY_FILE=" + filepath.Join(dir, "ready.json"),
	}
}

// binFreePort picks a port for servers a test runs in its own process and
// must restart on the same address; serve itself binds port 0.
func binFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func binWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}
