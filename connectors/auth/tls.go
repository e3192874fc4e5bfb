package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// apply loads the files into cfg: the CA bundle becomes the only trusted
// roots, the certificate and key the client certificate. Errors name the
// field and file and say what is wrong, never what the file holds.
func (t *TLS) apply(cfg *tls.Config) error {
	if t.CA != "" {
		pool, err := loadCA(t.CA)
		if err != nil {
			return err
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := loadKeyPair(t.Cert, t.Key)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return nil
}

func loadCA(path string) (*x509.CertPool, error) {
	data, err := readFile("auth.tls.ca", path)
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

func loadKeyPair(certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := readFile("auth.tls.cert", certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := checkCertPEM(certPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("auth.tls.cert %s: %w", certPath, err)
	}
	keyPEM, err := readFile("auth.tls.key", keyPath)
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

// readFile reads a PEM file; its error names field and path and keeps the
// cause (not found, permission denied) for errors.Is.
func readFile(field, path string) ([]byte, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the connector's configuration names its own PEM files
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s %s: cannot read: %w", field, path, err)
	}
	return data, nil
}
