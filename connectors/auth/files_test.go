package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

// confined returns a configuration directory holding name=data files and
// the Files that confine to it.
func confined(t *testing.T, files map[string][]byte) (string, *config.Files) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	f, err := config.OpenFiles(dir, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return dir, f
}

func TestTLSFilesConfined(t *testing.T) {
	ca := newTestCA(t, "test CA")
	client := ca.issue(t, "c", false)
	outside := writeFile(t, "ca.pem", ca.pem) // a readable PEM file elsewhere
	dir, files := confined(t, map[string][]byte{"c.pem": client.certPEM, "c-key.pem": client.keyPEM})
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link.pem")))

	build := func(tlsBlock *TLS) error {
		cfg := &Config{TLS: tlsBlock}
		cfg.UseFiles(files)
		_, err := cfg.NewClient(nil, time.Second)
		return err
	}
	// Relative paths start in the directory.
	require.NoError(t, build(&TLS{Cert: "c.pem", Key: "c-key.pem"}))
	require.NoError(t, build(&TLS{Cert: filepath.Join(dir, "c.pem"), Key: filepath.Join(dir, "c-key.pem")}))

	for name, tc := range map[string]struct {
		block *TLS
		field string
	}{
		"absolute path elsewhere": {&TLS{CA: outside}, "auth.tls.ca"},
		"dot-dot out":             {&TLS{CA: "../" + filepath.Base(filepath.Dir(outside)) + "/ca.pem"}, "auth.tls.ca"},
		"dot-dot in an absolute":  {&TLS{Cert: dir + "/../x/c.pem", Key: "c-key.pem"}, "auth.tls.cert"},
		"key outside":             {&TLS{Cert: "c.pem", Key: "/etc/passwd"}, "auth.tls.key"},
	} {
		t.Run(name, func(t *testing.T) {
			err := build(tc.block)
			require.ErrorIs(t, err, config.ErrOutside)
			require.ErrorContains(t, err, tc.field)
		})
	}
	t.Run("symbolic link out", func(t *testing.T) {
		err := build(&TLS{CA: "link.pem"})
		require.Error(t, err)
		require.ErrorContains(t, err, "auth.tls.ca")
		require.ErrorContains(t, err, "escapes")
	})
}

// A renewed client certificate is used from the next handshake on,
// without building the client again.
func TestClientCertificateRenewed(t *testing.T) {
	ca := newTestCA(t, "test CA")
	srv := mtlsServer(t, ca, peerName)
	first, second := ca.issue(t, "first", false), ca.issue(t, "second", false)
	dir, files := confined(t, map[string][]byte{
		"ca.pem": ca.pem, "c.pem": first.certPEM, "c-key.pem": first.keyPEM,
	})
	cfg := &Config{TLS: &TLS{CA: "ca.pem", Cert: "c.pem", Key: "c-key.pem"}}
	cfg.UseFiles(files)
	c := newTLSClient(t, cfg)

	name, err := get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, "first", name)

	// Write the renewal the way Kubernetes updates a mounted Secret: new
	// files, then one rename, so no handshake sees half of it.
	next := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(next, "c.pem"), second.certPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(next, "c-key.pem"), second.keyPEM, 0o600))
	later := time.Now().Add(2 * time.Second)
	for _, f := range []string{"c.pem", "c-key.pem"} {
		require.NoError(t, os.Chtimes(filepath.Join(next, f), later, later))
		require.NoError(t, os.Rename(filepath.Join(next, f), filepath.Join(dir, f)))
	}
	c.CloseIdleConnections() // the next request makes a new handshake
	name, err = get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, "second", name)

	// A broken renewal leaves the last good certificate in use.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.pem"), []byte("not PEM"), 0o600))
	c.CloseIdleConnections()
	name, err = get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, "second", name)
}
