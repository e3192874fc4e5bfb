package sftp_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// server is an SSH server with the SFTP subsystem on loopback, backed by
// pkg/sftp's in-memory file system. It records every file opened for
// writing and every rename, and can be told to fail some of them.
type server struct {
	addr     string
	hostKey  ssh.Signer
	password string
	userKey  ssh.PublicKey // accepted public key

	mu  sync.Mutex
	ops []string

	failRename atomic.Pointer[error]
	failWrite  atomic.Pointer[error]
	// midWrite, if set, runs after the first chunk of each upload is
	// stored: the moment a partial file exists on the server.
	midWrite atomic.Pointer[func()]
	handlers sftp.Handlers
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{password: "s3cret-pw", hostKey: newSigner(t)}
	mem := sftp.InMemHandler()
	s.handlers = sftp.Handlers{
		FileGet:  mem.FileGet,
		FilePut:  recordingPut{mem.FilePut, s},
		FileCmd:  recordingCmd{mem.FileCmd, s},
		FileList: mem.FileList,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = ln.Addr().String()
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == s.password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if s.userKey != nil && bytes.Equal(key.Marshal(), s.userKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(s.hostKey)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serveConn(conn, cfg) })
		}
	})
	mkdir(t, s, "/incoming")
	return s
}

func (s *server) serveConn(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for req := range requests {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				_ = req.Reply(ok, nil)
				if ok {
					rs := sftp.NewRequestServer(ch, s.handlers)
					_ = rs.Serve()
					_ = ch.Close()
				}
			}
		}()
	}
}

func (s *server) record(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, op)
}

func (s *server) operations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ops...)
}

type recordingPut struct {
	sftp.FileWriter
	s *server
}

func (p recordingPut) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	p.s.record("write " + r.Filepath)
	if err := p.s.failWrite.Load(); err != nil {
		return nil, *err
	}
	w, err := p.FileWriter.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return &hookWriter{WriterAt: w, s: p.s}, nil
}

type hookWriter struct {
	io.WriterAt
	s    *server
	once sync.Once
}

func (w *hookWriter) WriteAt(b []byte, off int64) (int, error) {
	n, err := w.WriterAt.WriteAt(b, off)
	if hook := w.s.midWrite.Load(); hook != nil && err == nil {
		w.once.Do(*hook)
	}
	return n, err
}

type recordingCmd struct {
	sftp.FileCmder
	s *server
}

func (c recordingCmd) Filecmd(r *sftp.Request) error {
	c.s.record(strings.ToLower(r.Method) + " " + r.Filepath + " " + r.Target)
	if err := c.s.failRename.Load(); err != nil && r.Method == "Rename" {
		return *err
	}
	return c.FileCmder.Filecmd(r)
}

func (c recordingCmd) PosixRename(r *sftp.Request) error {
	c.s.record("posixrename " + r.Filepath + " " + r.Target)
	if err := c.s.failRename.Load(); err != nil {
		return *err
	}
	return c.FileCmder.(sftp.PosixRenameFileCmder).PosixRename(r)
}

// client is the test's own view of the server, with the right host key.
func (s *server) client(t *testing.T) *sftp.Client {
	t.Helper()
	sc, err := ssh.Dial("tcp", s.addr, &ssh.ClientConfig{
		User: "test", Auth: []ssh.AuthMethod{ssh.Password(s.password)},
		HostKeyCallback: ssh.FixedHostKey(s.hostKey.PublicKey()),
	})
	require.NoError(t, err)
	c, err := sftp.NewClient(sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(); _ = sc.Close() })
	return c
}

func mkdir(t *testing.T, s *server, dir string) {
	t.Helper()
	require.NoError(t, s.client(t).MkdirAll(dir))
}

// files returns name → content of every file in dir, hidden ones included.
func (s *server) files(t *testing.T, dir string) map[string]string {
	t.Helper()
	c := s.client(t)
	infos, err := c.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, fi := range infos {
		f, err := c.Open(dir + "/" + fi.Name())
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		_ = f.Close()
		out[fi.Name()] = string(b)
	}
	return out
}

func (s *server) names(t *testing.T, dir string) []string {
	var names []string
	for n := range s.files(t, dir) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// knownHosts writes a known_hosts file pinning key for the server.
func knownHosts(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	require.NoError(t, os.WriteFile(p, []byte(line+"\n"), 0o600))
	return p
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

// userKeyFile writes a new OpenSSH private key, encrypted when passphrase
// is set, and lets the server accept it.
func (s *server) userKeyFile(t *testing.T, passphrase string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "extsync test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "extsync test", []byte(passphrase))
	}
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	s.userKey = signer.PublicKey()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(block), 0o600))
	return p
}
