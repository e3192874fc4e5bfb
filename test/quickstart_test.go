package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// quickstartArgs are the arguments of the README's quick-start command
// that starts with prefix (`go run ./cmd/extsync publish`, ...), read from
// its shell block so the test follows the README as written.
func quickstartArgs(t *testing.T, readme, prefix string) []string {
	t.Helper()
	for _, line := range strings.Split(readme, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			var args []string
			for _, m := range regexp.MustCompile(`'([^']*)'|(\S+)`).FindAllStringSubmatch(rest, -1) {
				args = append(args, m[1]+m[2])
			}
			return args
		}
	}
	t.Fatalf("README.md has no line starting with %q", prefix)
	return nil
}

// TestREADMEQuickStart walks the README's quick start with the real
// binary and the example receiver: serve with examples/connectors.yaml,
// the publish command as written, the receiver's line as the README
// shows it, `log --follow` showing delivered, retries while the receiver
// is down, and Ctrl-C on serve exiting 0. Only the ports differ: the
// receiver and the embedded server get free ones, since the machine may
// run other tests.
func TestREADMEQuickStart(t *testing.T) {
	root := deployRoot(t)
	readme := docsRead(t, "README.md")

	receiverBin := filepath.Join(t.TempDir(), "receiver")
	build := exec.Command("go", "build", "-o", receiverBin, "./examples/receiver")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	port := binFreePort(t)
	receiverOut := &lockedBuffer{}
	startReceiver := func() *exec.Cmd {
		r := exec.Command(receiverBin, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
		r.Stdout, r.Stderr = receiverOut, receiverOut
		require.NoError(t, r.Start())
		t.Cleanup(func() { _ = r.Process.Kill(); _ = r.Wait() })
		require.Eventually(t, func() bool { return strings.Contains(receiverOut.String(), "receiver listening") },
			20*time.Second, 10*time.Millisecond)
		return r
	}
	receiver := startReceiver()

	conf, err := os.ReadFile(filepath.Join(root, "examples", "connectors.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(conf), "127.0.0.1:9090", "the example file points at the receiver's default address")
	connectors := binWriteFile(t, "connectors.yaml", strings.ReplaceAll(string(conf), "127.0.0.1:9090", fmt.Sprintf("127.0.0.1:%d", port)))
	require.Contains(t, readme, "EXTSYNC_CONNECTORS=examples/connectors.yaml go run ./cmd/extsync serve")
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+connectors)
	serveLog := &lockedBuffer{}
	serve := killStartTo(t, env, serveLog)
	cli := env[1:] // HOME onwards: binRun adds PATH and its own temp dirs first

	publish := quickstartArgs(t, readme, "go run ./cmd/extsync publish")
	require.Equal(t, []string{"hms.workflow.updated", `{"id":"wf-1","name":"Attorney Rotation","status":"approved"}`}, publish)
	res := binRun(t, cli, append([]string{"publish"}, publish...)...)
	require.Equal(t, 0, res.code, res.stderr)

	// The receiver prints the line the README shows.
	shown := regexp.MustCompile(`(?m)^    (PUT /api/v1/workflows/wf-1 Idempotency-Key=)\S+ (\{.*\})$`).FindStringSubmatch(readme)
	require.NotNil(t, shown, "README shows the receiver's line")
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(shown[1]) + `\S+ ` + regexp.QuoteMeta(shown[2]) + `$`).
			MatchString(receiverOut.String())
	}, 30*time.Second, 10*time.Millisecond, "receiver printed: %s", receiverOut)

	// `log --follow` shows the attempt as delivered, until interrupted.
	require.Contains(t, readme, "go run ./cmd/extsync log --follow")
	follow := exec.Command(binary(t), "log", "--follow")
	follow.Env = append([]string{"PATH=" + os.Getenv("PATH")}, cli...)
	followOut := &lockedBuffer{}
	follow.Stdout, follow.Stderr = followOut, followOut
	require.NoError(t, follow.Start())
	t.Cleanup(func() { _ = follow.Process.Kill() })
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)\swf-1\s.*\sdelivered\s+200\s`).MatchString(followOut.String())
	}, 30*time.Second, 10*time.Millisecond, "log --follow: %s", followOut)

	// Stop the receiver and publish again: retry records.
	require.NoError(t, receiver.Process.Kill())
	_ = receiver.Wait()
	res = binRun(t, cli, "publish", "hms.workflow.updated", `{"id":"wf-2","name":"Night Court","status":"approved"}`)
	require.Equal(t, 0, res.code, res.stderr)
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)\swf-2\s.*\sretry\s`).MatchString(followOut.String())
	}, 30*time.Second, 10*time.Millisecond, "log --follow: %s", followOut)
	startReceiver()
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)\swf-2\s.*\sdelivered\s+200\s`).MatchString(followOut.String())
	}, 30*time.Second, 10*time.Millisecond, "log --follow: %s", followOut)

	require.NoError(t, follow.Process.Signal(syscall.SIGINT))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- follow.Wait() }()
	select {
	case err := <-waited:
		require.NoError(t, err, "log --follow exits 0 on Ctrl-C")
	case <-ctx.Done():
		t.Fatal("log --follow did not stop on Ctrl-C")
	}

	// Ctrl-C on serve drains and exits 0.
	require.NoError(t, serve.Process.Signal(syscall.SIGINT))
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "serve exits 0 on Ctrl-C; log: %s", serveLog)
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit on Ctrl-C; log: %s", serveLog)
	}
}
