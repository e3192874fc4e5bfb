package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// peerName answers with the common name of the client certificate.
var peerName = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
})

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b), nil
}

func newTLSClient(t *testing.T, cfg *Config) *http.Client {
	t.Helper()
	c, err := cfg.NewClient(nil, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "test CA")
	srv := mtlsServer(t, ca, peerName)
	client := ca.issue(t, "extsync-client", false)
	caFile := writeFile(t, "ca.pem", ca.pem)
	certFile := writeFile(t, "client.pem", client.certPEM)
	keyFile := writeFile(t, "client-key.pem", client.keyPEM)

	t.Run("client certificate and CA", func(t *testing.T) {
		c := newTLSClient(t, &Config{TLS: &TLS{CA: caFile, Cert: certFile, Key: keyFile}})
		name, err := get(t, c, srv.URL)
		require.NoError(t, err)
		require.Equal(t, "extsync-client", name)
	})

	t.Run("with bearer too", func(t *testing.T) {
		rec := &recorder{}
		s := mtlsServer(t, ca, rec)
		c := newTLSClient(t, &Config{Bearer: "tok-1", TLS: &TLS{CA: caFile, Cert: certFile, Key: keyFile}})
		_, err := get(t, c, s.URL)
		require.NoError(t, err)
		require.Equal(t, []string{"Bearer tok-1"}, rec.headers("Authorization"))
	})

	t.Run("no client certificate", func(t *testing.T) {
		c := newTLSClient(t, &Config{TLS: &TLS{CA: caFile}})
		_, err := get(t, c, srv.URL)
		require.Error(t, err, "the server accepted a client without a certificate")
	})

	t.Run("client certificate from another CA", func(t *testing.T) {
		other := newTestCA(t, "other CA").issue(t, "intruder", false)
		c := newTLSClient(t, &Config{TLS: &TLS{
			CA:   caFile,
			Cert: writeFile(t, "intruder.pem", other.certPEM),
			Key:  writeFile(t, "intruder-key.pem", other.keyPEM),
		}})
		_, err := get(t, c, srv.URL)
		require.Error(t, err)
	})

	t.Run("wrong CA", func(t *testing.T) {
		wrong := writeFile(t, "wrong-ca.pem", newTestCA(t, "wrong CA").pem)
		c := newTLSClient(t, &Config{TLS: &TLS{CA: wrong, Cert: certFile, Key: keyFile}})
		_, err := get(t, c, srv.URL)
		var uae x509.UnknownAuthorityError
		require.ErrorAs(t, err, &uae)
	})

	t.Run("no CA: the system roots do not know the test CA", func(t *testing.T) {
		c := newTLSClient(t, &Config{TLS: &TLS{Cert: certFile, Key: keyFile}})
		_, err := get(t, c, srv.URL)
		require.Error(t, err)
	})
}

func TestNewClientTransport(t *testing.T) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 7
	base.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS10, ServerName: "court.example"}
	ca := newTestCA(t, "test CA")
	client := ca.issue(t, "c", false)
	cfg := &Config{TLS: &TLS{
		CA:   writeFile(t, "ca.pem", ca.pem),
		Cert: writeFile(t, "c.pem", client.certPEM),
		Key:  writeFile(t, "c-key.pem", client.keyPEM),
	}}

	c, err := cfg.NewClient(base, 3*time.Second)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, c.Timeout)
	tr, ok := c.Transport.(*http.Transport)
	require.True(t, ok, "transport is %T", c.Transport)
	require.NotSame(t, base, tr, "base was not cloned")
	require.Equal(t, 7, tr.MaxIdleConnsPerHost, "base settings lost")
	require.EqualValues(t, tls.VersionTLS12, tr.TLSClientConfig.MinVersion)
	require.Equal(t, "court.example", tr.TLSClientConfig.ServerName)
	require.False(t, tr.TLSClientConfig.InsecureSkipVerify)
	require.NotNil(t, tr.TLSClientConfig.GetClientCertificate, "the client certificate is loaded per handshake")
	got, err := tr.TLSClientConfig.GetClientCertificate(&tls.CertificateRequestInfo{})
	require.NoError(t, err)
	require.NotNil(t, got.Leaf)
	require.True(t, tr.TLSClientConfig.RootCAs.Equal(ca.pool), "RootCAs is not exactly the configured CA")

	// base is as it was.
	require.EqualValues(t, tls.VersionTLS10, base.TLSClientConfig.MinVersion)
	require.Nil(t, base.TLSClientConfig.RootCAs)
	require.Empty(t, base.TLSClientConfig.Certificates)

	// Without a tls block the minimum is TLS 1.2 all the same.
	for _, cfg := range []*Config{nil, {Bearer: "t"}} {
		c, err := cfg.NewClient(nil, 0)
		require.NoError(t, err)
		var tr *http.Transport
		switch rt := c.Transport.(type) {
		case *http.Transport:
			tr = rt
		case *headerTransport:
			tr = rt.base.(*http.Transport)
		}
		require.NotNil(t, tr)
		require.NotSame(t, http.DefaultTransport, tr)
		require.EqualValues(t, tls.VersionTLS12, tr.TLSClientConfig.MinVersion)
		require.Nil(t, tr.TLSClientConfig.RootCAs, "system roots replaced without a tls.ca")
	}
	if dt := http.DefaultTransport.(*http.Transport).TLSClientConfig; dt != nil {
		require.Zero(t, dt.MinVersion, "http.DefaultTransport modified")
		require.Nil(t, dt.RootCAs, "http.DefaultTransport modified")
	}
}

// Files that cannot be read or parsed fail NewClient with a message that
// names the field and file and never shows what the file holds.
func TestTLSFileErrors(t *testing.T) {
	ca := newTestCA(t, "test CA")
	client := ca.issue(t, "c", false)
	other := ca.issue(t, "other", false)
	caFile := writeFile(t, "ca.pem", ca.pem)
	certFile := writeFile(t, "client.pem", client.certPEM)
	keyFile := writeFile(t, "client-key.pem", client.keyPEM)
	// Content that must never reach a message.
	garbage := writeFile(t, "garbage.pem", []byte("SECRET-MATERIAL not PEM at all\n"))
	badPEM := writeFile(t, "bad.pem", []byte("-----BEGIN CERTIFICATE-----\nU0VDUkVULU1BVEVSSUFM\n-----END CERTIFICATE-----\n"))
	badKey := writeFile(t, "bad-key.pem", []byte("-----BEGIN PRIVATE KEY-----\nU0VDUkVULU1BVEVSSUFM\n-----END PRIVATE KEY-----\n"))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	tests := []struct {
		name  string
		tls   TLS
		want  []string
		cause error
	}{
		{"CA missing", TLS{CA: missing}, []string{"auth.tls.ca", missing, "cannot read"}, fs.ErrNotExist},
		{"CA not PEM", TLS{CA: garbage}, []string{"auth.tls.ca", garbage, "no PEM CERTIFICATE"}, nil},
		{"CA does not parse", TLS{CA: badPEM}, []string{"auth.tls.ca", badPEM, "does not parse"}, nil},
		{"CA is a key", TLS{CA: keyFile}, []string{"auth.tls.ca", keyFile, "no PEM CERTIFICATE"}, nil},
		{"cert missing", TLS{Cert: missing, Key: keyFile}, []string{"auth.tls.cert", missing, "cannot read"}, fs.ErrNotExist},
		{"cert not PEM", TLS{Cert: garbage, Key: keyFile}, []string{"auth.tls.cert", garbage}, nil},
		{"cert does not parse", TLS{Cert: badPEM, Key: keyFile}, []string{"auth.tls.cert", badPEM}, nil},
		{"cert and key swapped", TLS{Cert: keyFile, Key: certFile}, []string{"auth.tls.cert", keyFile}, nil},
		{"key missing", TLS{Cert: certFile, Key: missing}, []string{"auth.tls.key", missing, "cannot read"}, fs.ErrNotExist},
		{"key not PEM", TLS{Cert: certFile, Key: garbage}, []string{"auth.tls.key", garbage}, nil},
		{"key does not parse", TLS{Cert: certFile, Key: badKey}, []string{"auth.tls.key", badKey}, nil},
		{"key of another certificate", TLS{Cert: certFile, Key: writeFile(t, "other-key.pem", other.keyPEM)}, []string{"auth.tls.key", "does not match"}, nil},
		{"bad CA with a good pair", TLS{CA: garbage, Cert: certFile, Key: keyFile}, []string{"auth.tls.ca", garbage}, nil},
		{"good CA with a bad pair", TLS{CA: caFile, Cert: certFile, Key: garbage}, []string{"auth.tls.key", garbage}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tlsCfg := tt.tls
			c, err := (&Config{TLS: &tlsCfg}).NewClient(nil, time.Second)
			require.Nil(t, c)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			if tt.cause != nil {
				require.ErrorIs(t, err, tt.cause)
			}
			msg := err.Error()
			require.NotContains(t, msg, "SECRET")
			require.NotContains(t, msg, "U0VDUkVU")
			require.NotContains(t, msg, "BEGIN")
			require.NotContains(t, msg, string(client.keyPEM[30:60]))
		})
	}
}

func TestTLSErrorIsNotATokenError(t *testing.T) {
	ca := newTestCA(t, "test CA")
	srv := mtlsServer(t, ca, peerName)
	c := newTLSClient(t, &Config{TLS: &TLS{CA: writeFile(t, "ca.pem", newTestCA(t, "x").pem)}})
	_, err := get(t, c, srv.URL)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrToken))
}
