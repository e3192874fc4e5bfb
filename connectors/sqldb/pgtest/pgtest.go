//go:build unix

package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the superuser of the test cluster; it logs in with a password
// over TCP, so DSNs look like production ones.
const User = "extsync"

// Database is created on start for the tests to use.
const Database = "extsync_test"

// startTimeout bounds initdb plus the server's start on a busy machine.
const startTimeout = 90 * time.Second

// Server is a running PostgreSQL cluster in a temporary directory.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Password is User's password.
	Password string

	dir  string
	bin  string
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exited
	err  error         // its exit status, once done
	log  string

	stopOnce sync.Once
	stopErr  error
}

// ErrNoPostgres says the server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries not found (looked in $EXTSYNC_PG_BIN, " +
	"/usr/lib/postgresql/*/bin and $PATH): install them with `apt-get install -y postgresql` " +
	"(CI's .ci/run does) or point EXTSYNC_PG_BIN at the directory holding initdb and postgres")

// BinDir finds the directory holding initdb and postgres: $EXTSYNC_PG_BIN,
// else the newest /usr/lib/postgresql/<version>/bin, else initdb on $PATH.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() { // #nosec G703 -- a test helper looking where $EXTSYNC_PG_BIN says
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("EXTSYNC_PG_BIN"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("EXTSYNC_PG_BIN=%s holds no initdb and postgres: %w", dir, ErrNoPostgres)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// Start initialises a cluster in a new temporary directory and starts it
// on a free loopback port, returning once it accepts connections and the
// test database exists. As root it runs initdb and postgres as the
// `postgres` OS user (initdb refuses root). Stop it with Stop.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s := &Server{bin: bin, Password: "pw-" + randomHex(12)}
	if s.cred, err = credential(); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp("", "extsync-pg-"); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	// A port found free can be taken before postgres binds it; try again.
	for attempt := 1; ; attempt++ {
		err = s.start(ctx)
		if err == nil || attempt == 3 || ctx.Err() != nil || !strings.Contains(s.logTail(), "could not bind") {
			break
		}
	}
	if err == nil {
		err = s.createDatabase(ctx)
	}
	if err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// credential returns the postgres OS user when running as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, initdb needs the `postgres` OS user (the postgresql package creates it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...) // #nosec G204 -- runs the PostgreSQL binaries BinDir found, for tests
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = procAttr(s.cred)
	return cmd
}

// chown hands path to the server's OS user when running as root.
func (s *Server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) initdb(ctx context.Context) error {
	if err := s.chown(s.dir); err != nil {
		return err
	}
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return err
	}
	if err := s.chown(pwfile); err != nil {
		return err
	}
	out, err := s.command(ctx, "initdb", "-D", filepath.Join(s.dir, "data"), "-U", User, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	_ = os.Remove(pwfile)
	if err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

// start runs postgres on a free port and waits until it accepts
// connections, it exits, or ctx ends.
func (s *Server) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	sock := filepath.Join(s.dir, "sock")
	if err := os.MkdirAll(sock, 0o700); err != nil {
		return err
	}
	if err := s.chown(sock); err != nil {
		return err
	}
	s.log = filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	// Not CommandContext: the server outlives Start's context.
	// #nosec G204 -- runs the PostgreSQL binary BinDir found, for tests.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-k", sock, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=100", "-c", "shared_buffers=32MB")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = procAttr(s.cred)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.Port, s.done = cmd, port, make(chan struct{})
	go func(done chan struct{}) {
		s.err = cmd.Wait()
		close(done)
	}(s.done)
	return s.waitReady(ctx)
}

// waitReady polls until a connection succeeds; each attempt is bounded and
// the wait ends at once if the server process exits.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, s.DSN("postgres"))
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited during start (%v):\n%s", s.err, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %s: %v\n%s", startTimeout, last, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+Database)
	return err
}

// DSN is a URL for database db with the password in it, as users write
// them (sslmode=disable: the test cluster has no certificate).
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, s.Password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down (SIGINT: fast shutdown, open sessions are
// ended), waits for it and removes its directory. It is safe to call more
// than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			select {
			case <-s.done:
			default:
				_ = s.cmd.Process.Signal(os.Interrupt)
				select {
				case <-s.done:
				case <-time.After(30 * time.Second):
					_ = s.cmd.Process.Kill()
					<-s.done
					s.stopErr = errors.New("postgres did not stop within 30s of SIGINT; killed")
				}
			}
		}
		if s.dir != "" {
			if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
				s.stopErr = err
			}
		}
	})
	return s.stopErr
}

// Exited is closed once the server process has exited.
func (s *Server) Exited() <-chan struct{} { return s.done }

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
