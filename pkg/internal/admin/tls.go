package admin

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certFiles serves a certificate and key read from files, read again on
// the next handshake after either file changes, so a renewed certificate
// (a Kubernetes secret update, say) is used without a restart.
type certFiles struct {
	certPath, keyPath string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time // the later of the two files' when cert was read
}

func newCertFiles(certPath, keyPath string) (*certFiles, error) {
	c := &certFiles{certPath: certPath, keyPath: keyPath}
	if _, err := c.get(); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns the current certificate, reading the files again if they
// changed. A renewal that does not load keeps the certificate in use.
func (c *certFiles) get() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mod, err := c.changed()
	if err != nil && c.cert == nil {
		return nil, err
	}
	if c.cert != nil && !mod.After(c.modTime) {
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		if c.cert != nil {
			return c.cert, nil
		}
		return nil, fmt.Errorf("admin TLS certificate %s / key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.modTime = &cert, mod
	return c.cert, nil
}

// changed is the later modification time of the two files.
func (c *certFiles) changed() (time.Time, error) {
	var latest time.Time
	for _, p := range []string{c.certPath, c.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return latest, fmt.Errorf("admin TLS: %w", err)
		}
		if fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
	}
	return latest, nil
}

func (c *certFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.get() },
	}
}
