package sftp

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// session is one SSH connection with its SFTP client.
type session struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	// posixRename: the server replaces an existing target atomically.
	posixRename bool
}

func (s *session) close() {
	_ = s.sftp.Close()
	_ = s.ssh.Close()
}

// pool keeps idle sessions so a delivery does not pay for a handshake;
// the pipeline bounds how many are in use at once (its concurrency).
type pool struct {
	mu     sync.Mutex
	idle   []*session
	max    int
	closed bool
}

func (p *pool) get() *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return s
	}
	return nil
}

// put returns a healthy session; broken ones are closed by the caller.
func (p *pool) put(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= p.max {
		s.close()
		return
	}
	p.idle = append(p.idle, s)
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.idle {
		s.close()
	}
	p.idle = nil
}

// dial opens a session within ctx. The host key callback notes that the
// server's key was accepted, so a handshake that fails after it is known
// to have failed on authentication (x/crypto/ssh has no error type for
// that) rather than on the network.
func (c *Connector) dial(ctx context.Context) (*session, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, classify(fmt.Errorf("connect to %s: %w", c.cfg.Addr, err), false)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.cfg.Timeout.D())
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var keyAccepted atomic.Bool
	cfg := &ssh.ClientConfig{
		User: c.cfg.User,
		Auth: c.auth,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			if err := c.hostKeys(host, remote, key); err != nil {
				return err
			}
			keyAccepted.Store(true)
			return nil
		},
		ClientVersion: "SSH-2.0-extsync",
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.cfg.Addr, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, classify(fmt.Errorf("ssh handshake with %s as %s: %w", c.cfg.Addr, c.cfg.User, err), keyAccepted.Load())
	}
	client := ssh.NewClient(sc, chans, reqs)
	sc2, err := sftp.NewClient(client)
	if err != nil {
		_ = client.Close()
		return nil, classify(fmt.Errorf("start sftp on %s: %w", c.cfg.Addr, err), false)
	}
	_ = conn.SetDeadline(time.Time{})
	_, posix := sc2.HasExtension("posix-rename@openssh.com")
	return &session{ssh: client, sftp: sc2, posixRename: posix}, nil
}

// withSession runs fn on a pooled or new session. The SFTP calls take no
// context, so ending ctx closes the session under them; a session that
// failed on the connection is not pooled again.
func (c *Connector) withSession(ctx context.Context, fn func(*session) error) error {
	s := c.pool.get()
	if s == nil {
		var err error
		if s, err = c.dial(ctx); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, s.close)
	err := fn(s)
	if !stop() { // ctx ended and closed the session under fn
		return classify(fmt.Errorf("sftp %s: %w", c.cfg.Addr, context.Cause(ctx)), false)
	}
	if err == nil {
		c.pool.put(s)
		return nil
	}
	if brokenConn(err) {
		s.close()
	} else {
		c.pool.put(s)
	}
	return classify(err, false)
}
