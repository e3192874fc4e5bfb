package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLedgerBinaryServesTheCustomKind builds this example as a user
// would and drives it through its own serve and publish commands.
func TestLedgerBinaryServesTheCustomKind(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	ledgerPath, ready := filepath.Join(dir, "ledger.jsonl"), filepath.Join(dir, "ready.json")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"EXTSYNC_DATA_DIR=" + filepath.Join(dir, "data"), "EXTSYNC_CONNECTORS=connectors.yaml",
		"EXTSYNC_NATS_LISTEN=127.0.0.1:0", "EXTSYNC_HTTP_ADDR=127.0.0.1:0", "EXTSYNC_READY_FILE=" + ready,
		"LEDGER_PATH=" + ledgerPath,
	}
	serve := exec.Command(bin, "serve")
	serve.Env = env
	var logs bytes.Buffer
	serve.Stdout, serve.Stderr = &logs, &logs
	require.NoError(t, serve.Start())
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Kill()
		<-exited
	})

	var addrs struct {
		NATSURL string `json:"nats_url"`
	}
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(ready)
		return err == nil && json.Unmarshal(data, &addrs) == nil
	}, 60*time.Second, 20*time.Millisecond, "serve wrote its ready file")

	pub := run(t, bin, append(env, "EXTSYNC_NATS_LISTEN="+strings.TrimPrefix(addrs.NATSURL, "nats://")),
		"publish", "hms.workflow.updated", `{"id":"wf-1","name":"Attorney Rotation","status":"approved"}`)
	require.Equal(t, 0, pub.code, pub.out)

	var line struct {
		ID, Subject, Key string
		Data             map[string]any
	}
	require.Eventually(t, func() bool {
		f, err := os.Open(ledgerPath)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		return sc.Scan() && json.Unmarshal(sc.Bytes(), &line) == nil
	}, 30*time.Second, 20*time.Millisecond, "the ledger holds the event")
	require.Equal(t, map[string]any{"workflow_name": "Attorney Rotation", "state": "approved"}, line.Data)
	require.Equal(t, "wf-1", line.Key)
	require.Equal(t, "hms.workflow.updated", line.Subject)
	require.NotEmpty(t, line.ID)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "clean exit after SIGTERM; log:\n%s", logs.String())
		exited <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
}

func TestLedgerBinaryIsTheWholeCommandLine(t *testing.T) {
	bin := build(t)
	help := run(t, bin, nil, "--help")
	require.Equal(t, 0, help.code)
	for _, cmd := range []string{"serve", "demo", "publish", "connectors", "dlq", "log", "bench"} {
		require.Contains(t, help.out, "\n  "+cmd+" ")
	}

	conf := filepath.Join(t.TempDir(), "typo.yaml")
	doc, err := os.ReadFile("connectors.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(conf, bytes.Replace(doc, []byte("kind: ledger"), []byte("kind: ledgr"), 1), 0o600))
	res := run(t, bin, []string{"EXTSYNC_CONNECTORS=" + conf, "EXTSYNC_DATA_DIR=" + t.TempDir()}, "serve")
	require.Equal(t, 2, res.code, res.out)
	require.Contains(t, res.out, conf+":5:11: connectors[0].kind: unknown kind \"ledgr\"")
	require.Contains(t, res.out, `the connector has a block for "ledger"`, "one error at the kind names the block")
	require.NotContains(t, res.out, "connectors[0].ledger:", "not a second, less clear error at the block")
}

// build compiles this example into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "extsync-ledger")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

type result struct {
	code int
	out  string
}

// run runs the binary to completion with env and a deadline.
func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return result{code: ee.ExitCode(), out: string(out)}
	}
	require.NoError(t, err, string(out))
	return result{out: string(out)}
}
