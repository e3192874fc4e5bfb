package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS modes: the broker in its own process, as users run it, or embedded
// in the benchmark's process, as `serve` runs it without EXTSYNC_NATS_URL.
const (
	NATSExternal = "external"
	NATSEmbedded = "embedded"
)

// natsBinary finds a nats-server binary: the one named (--nats-server),
// else one built earlier and cached, else one built now from the module
// in go.mod, else one on PATH. It returns the path and how it was found.
func natsBinary(ctx context.Context, named string) (string, string, error) {
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", "", fmt.Errorf("--nats-server: %w", err)
		}
		return named, "given", nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	// The version is the one extsync embeds, so external and embedded
	// runs compare the same server.
	path := filepath.Join(cache, "extsync", "nats-server-"+server.VERSION)
	if _, err := os.Stat(path); err == nil {
		return path, "cached", nil
	}
	berr := buildNATS(ctx, path)
	if berr == nil {
		return path, "built", nil
	}
	if onPath, err := exec.LookPath("nats-server"); err == nil {
		return onPath, "PATH", nil
	}
	return "", "", berr
}

// buildNATS builds nats-server from the module cache: go.mod requires
// nats-server/v2 and its main package is the module root, so this works
// offline from the extsync source tree (and in CI). The binary is written
// beside path and renamed, so concurrent builds (parallel test packages)
// never run a half-written file.
func buildNATS(ctx context.Context, path string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build nats-server: no go command: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("build nats-server: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp, "github.com/nats-io/nats-server/v2") // #nosec G204 -- fixed arguments
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("build nats-server (run from the extsync source tree, or pass --nats-server): %w: %s",
			err, bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("build nats-server: %w", err)
	}
	return nil
}

// natsProcess is a nats-server in its own process with JetStream in a
// temporary store, listening on a loopback port the OS chose.
type natsProcess struct {
	cmd    *exec.Cmd
	dir    string
	url    string
	stderr *tailBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before done closes
}

// startNATS starts bin and waits until it has written its client port.
// The caller owns the process: stop ends it and removes its store.
func startNATS(ctx context.Context, bin string) (*natsProcess, error) {
	dir, err := os.MkdirTemp("", "extsync-bench-nats-")
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	p := &natsProcess{dir: dir, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	// -p -1: a free port chosen by the server itself; the ports file says
	// which, so there is no window in which another process can take it.
	p.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", "-1", "-js", // #nosec G204 -- the operator's binary
		"-sd", filepath.Join(dir, "store"), "--ports_file_dir", dir)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	p.cmd.SysProcAttr = childAttr()
	if err := p.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("nats-server %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if p.url, err = p.awaitPorts(ctx, 10*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// awaitPorts polls for the ports file the server writes once it listens.
func (p *natsProcess) awaitPorts(ctx context.Context, within time.Duration) (string, error) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// The file is <binary>_<pid>.ports, written without a rename: a
		// partial one fails to parse and is read again at the next tick.
		files, _ := filepath.Glob(filepath.Join(p.dir, "*.ports"))
		for _, f := range files {
			var ports server.Ports
			raw, err := os.ReadFile(f) // #nosec G304 -- in our temp dir
			if err == nil && json.Unmarshal(raw, &ports) == nil && len(ports.Nats) > 0 {
				return ports.Nats[0], nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-p.done:
			return "", fmt.Errorf("nats-server exited at start: %v: %s", p.err, p.stderr)
		case <-deadline.C:
			return "", fmt.Errorf("nats-server wrote no ports file in %s: %s", within, p.stderr)
		case <-tick.C:
		}
	}
}

// stop kills the server, waits for it and removes its store. Killing
// rather than draining is fine: the store is thrown away.
func (p *natsProcess) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
	_ = os.RemoveAll(p.dir)
}

// cpu is the server's CPU time so far: the sum over its threads of
// /proc/<pid>/task/<tid>/schedstat (nanoseconds; a few hundred events
// cost the server a few milliseconds, under /proc/<pid>/stat's 10 ms
// ticks). Go's runtime keeps its threads, so none of the server's time
// leaves the sum. Zero where /proc is missing.
func (p *natsProcess) cpu() time.Duration {
	dir := "/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, task := range tasks {
		raw, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat")) // #nosec G304 -- a /proc path
		if err != nil {
			continue // the thread ended between listing and reading
		}
		f := strings.Fields(string(raw))
		if len(f) == 0 {
			continue
		}
		if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil { // time on a CPU
			sum += time.Duration(ns)
		}
	}
	return sum
}

// peakRSS is the server's VmHWM in bytes.
func (p *natsProcess) peakRSS() (uint64, error) {
	return vmHWM("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
}

// tailBuffer keeps the last max bytes written: the server's log, for the
// error when it fails to start.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// natsCPU is the external server's CPU so far, 0 when embedded.
func (t *trial) natsCPU() time.Duration {
	if t.nats == nil {
		return 0
	}
	return t.nats.cpu()
}
