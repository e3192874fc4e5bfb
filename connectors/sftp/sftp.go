package sftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hms/extsync/connectors"
)

// Kind is the connector kind's name in the connectors file.
const Kind = "sftp"

// Factory builds sftp connectors.
type Factory struct{}

// Kind implements connectors.Factory.
func (Factory) Kind() string { return Kind }

// New validates the block and loads the known_hosts file and key; it does
// not connect: the server is first contacted by the first delivery.
func (Factory) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	hostKeys, auth, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Connector{
		name: spec.Name, cfg: cfg, hostKeys: hostKeys, auth: auth,
		pool: &pool{max: max(spec.Concurrency, 1)},
		now:  time.Now,
	}, nil
}

// Connector writes files to one SFTP directory. It implements
// connectors.BatchConnector.
type Connector struct {
	name     string
	cfg      Config
	hostKeys ssh.HostKeyCallback
	auth     []ssh.AuthMethod
	pool     *pool
	now      func() time.Time
}

// Timeout implements connectors.Connector: one upload, handshake included.
func (c *Connector) Timeout() time.Duration { return c.cfg.Timeout.D() }

// Close implements connectors.Connector.
func (c *Connector) Close() error {
	c.pool.close()
	return nil
}

// Deliver implements connectors.Connector: one file holding one event.
func (c *Connector) Deliver(ctx context.Context, d *connectors.Delivery) error {
	return c.write(ctx, []*connectors.Delivery{d})
}

// DeliverBatch implements connectors.BatchConnector: one file holding
// every event of the batch, in order. A file is all or nothing, so there
// is never a *connectors.BatchError.
func (c *Connector) DeliverBatch(ctx context.Context, ds []*connectors.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	return c.write(ctx, ds)
}

func (c *Connector) write(ctx context.Context, ds []*connectors.Delivery) error {
	data, err := c.content(ds)
	if err != nil {
		return fmt.Errorf("connector %q: %w", c.name, err)
	}
	final := path.Join(c.cfg.Dir, c.fileName(ds, c.now()))
	err = c.withSession(ctx, func(s *session) error { return upload(s, final, data) })
	if err != nil {
		return fmt.Errorf("connector %q: %w", c.name, err)
	}
	return nil
}

// upload writes data under a hidden temporary name in the same directory,
// then renames it into place: the rename is atomic on the server, so a
// reader sees the whole file or none. The temporary file is removed when
// anything fails.
func upload(s *session, final string, data []byte) error {
	tmp := path.Join(path.Dir(final), "."+path.Base(final)+"."+randomSuffix()+".tmp")
	f, err := s.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, werr := f.ReadFrom(bytes.NewReader(data))
	cerr := f.Close()
	if werr == nil && cerr == nil {
		if s.posixRename {
			werr = s.sftp.PosixRename(tmp, final)
		} else {
			werr = s.sftp.Rename(tmp, final)
		}
		if werr == nil {
			return nil
		}
		werr = fmt.Errorf("rename %s to %s: %w", tmp, final, werr)
	} else if werr == nil {
		werr = fmt.Errorf("write %s: %w", tmp, cerr)
	} else {
		werr = fmt.Errorf("write %s: %w", tmp, werr)
	}
	_ = s.sftp.Remove(tmp) // best effort: the connection may be gone
	return werr
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
