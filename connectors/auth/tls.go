package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/hms/extsync/pkg/config"
)

// apply loads the files into cfg: the CA bundle becomes the only trusted
// roots, the certificate and key the client certificate. Errors name the
// field and file and say what is wrong, never what the file holds.
//
// Files are read through files (EXTSYNC_CONFIG_DIR). The client
// certificate is read again at a handshake after either file changed
// (modification time or size), so a renewed certificate is used without a
// restart; the CA bundle is read once, when the connector is built.
func (t *TLS) apply(cfg *tls.Config, files *config.Files) error {
	if t.CA != "" {
		pool, err := loadCA(files, t.CA)
		if err != nil {
			return err
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		kp := &keyPair{files: files, certPath: t.Cert, keyPath: t.Key}
		if _, err := kp.get(); err != nil {
			return err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.get()
		}
	}
	return nil
}

// keyPair is a client certificate kept in two files, cached until one of
// them changes.
type keyPair struct {
	files             *config.Files
	certPath, keyPath string

	mu      sync.Mutex
	stamp   [2]fileStamp
	current *tls.Certificate
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// get returns the certificate, read again when a file changed. A
// certificate that fails to load after a change (a renewal half written)
// leaves the last good one in use; without one, the error fails the
// handshake, naming the file.
func (k *keyPair) get() (*tls.Certificate, error) {
	var stamp [2]fileStamp
	for i, p := range []struct{ field, path string }{{"auth.tls.cert", k.certPath}, {"auth.tls.key", k.keyPath}} {
		fi, err := k.files.Stat(p.path)
		if err != nil {
			return k.fallback(fmt.Errorf("%s: cannot read: %w", p.field, err))
		}
		stamp[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil && stamp == k.stamp {
		return k.current, nil
	}
	cert, err := loadKeyPair(k.files, k.certPath, k.keyPath)
	if err != nil {
		if k.current != nil {
			return k.current, nil
		}
		return nil, err
	}
	k.current, k.stamp = &cert, stamp
	return k.current, nil
}

func (k *keyPair) fallback(err error) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil {
		return k.current, nil
	}
	return nil, err
}

func loadCA(files *config.Files, path string) (*x509.CertPool, error) {
	data, err := readFile(files, "auth.tls.ca", path)
	if err != nil {
		return nil, err
	}
	pool, n := x509.NewCertPool(), 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auth.tls.ca %s: a certificate does not parse: %w", path, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("auth.tls.ca %s: no PEM CERTIFICATE block found", path)
	}
	return pool, nil
}

func loadKeyPair(files *config.Files, certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := readFile(files, "auth.tls.cert", certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := checkCertPEM(certPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("auth.tls.cert %s: %w", certPath, err)
	}
	keyPEM, err := readFile(files, "auth.tls.key", keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is what is wrong:
		// missing, unreadable, or not the certificate's.
		return tls.Certificate{}, fmt.Errorf("auth.tls.key %s (for auth.tls.cert %s): %w", keyPath, certPath, err)
	}
	return cert, nil
}

// checkCertPEM makes sure the first CERTIFICATE block exists and parses,
// so that an error from tls.X509KeyPair is about the key.
func checkCertPEM(data []byte) error {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return errors.New("no PEM CERTIFICATE block found")
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return fmt.Errorf("the certificate does not parse: %w", err)
			}
			return nil
		}
	}
}

// readFile reads a PEM file through files; its error names field and path
// and keeps the cause (not found, permission denied, config.ErrOutside)
// for errors.Is.
func readFile(files *config.Files, field, path string) ([]byte, error) {
	if err := files.Check(path); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	data, err := files.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read: %w", field, err)
	}
	return data, nil
}
