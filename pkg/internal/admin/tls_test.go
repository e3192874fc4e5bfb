package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/internal/admin"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with serial,
// dated mod, and returns it.
func writeCert(t *testing.T, certPath, keyPath string, serial int64, mod time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "extsync admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	require.NoError(t, os.Chtimes(certPath, mod, mod))
	require.NoError(t, os.Chtimes(keyPath, mod, mod))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert
}

// With a certificate and key, the admin server speaks HTTPS only, and a
// renewed certificate is served from the next handshake on.
func TestAdminServesTLSAndPicksUpARenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certPath, keyPath, 1, time.Now().Add(-time.Minute))
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Ready: func(context.Context) error { return nil },
		TLSCert: certPath, TLSKey: keyPath})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	require.Equal(t, "https://"+s.Addr(), s.URL())

	serial := func() int64 {
		// A new connection per call: each is a new handshake.
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} // #nosec G402 -- the test reads the serial the server presents
		resp, err := c.Get(s.URL() + "/healthz")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	require.EqualValues(t, 1, serial())
	plain := &http.Client{Timeout: 5 * time.Second}
	resp, err := plain.Get("http://" + s.Addr() + "/healthz")
	if err == nil {
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "plain HTTP is refused")
	}

	writeCert(t, certPath, keyPath, 2, time.Now())
	require.EqualValues(t, 2, serial(), "the renewed certificate, without a restart")
}

func TestAdminTLSNeedsBothFilesThatLoad(t *testing.T) {
	_, err := admin.New(admin.Options{Addr: "127.0.0.1:0", TLSCert: "/nowhere/tls.crt"})
	require.ErrorContains(t, err, "both a certificate and a key")
	_, err = admin.New(admin.Options{Addr: "127.0.0.1:0", TLSCert: "/nowhere/tls.crt", TLSKey: "/nowhere/tls.key"})
	require.ErrorContains(t, err, "/nowhere/tls.crt")
}

// A token from a file (EXTSYNC_ADMIN_TOKEN_FILE) is read again when the
// file changes: a rotated token works at once, the old one no more.
func TestAdminTokenFileIsReadAgainWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin-token")
	require.NoError(t, os.WriteFile(path, []byte("first\n"), 0o600))
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Ready: func(context.Context) error { return nil },
		TokenFile: path})
	require.NoError(t, err)
	require.Equal(t, admin.RoleAdmin, s.TokenRole("first"))
	later := time.Now().Add(time.Second)
	require.NoError(t, os.WriteFile(path, []byte("second\n"), 0o600))
	require.NoError(t, os.Chtimes(path, later, later))
	require.Equal(t, admin.RoleAdmin, s.TokenRole("second"), "the rotated token")
	require.Equal(t, admin.RoleNone, s.TokenRole("first"), "the old token no more")
	require.NoError(t, os.Remove(path))
	require.Equal(t, admin.RoleAdmin, s.TokenRole("second"), "a file gone keeps the last token")
}
