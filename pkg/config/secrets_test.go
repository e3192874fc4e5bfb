package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

// useDirs confines Parse to a fresh configuration directory and secrets
// directory for the test, and returns them.
func useDirs(t *testing.T) (configDir, secretsDir string) {
	t.Helper()
	configDir, secretsDir = t.TempDir(), t.TempDir()
	f, err := config.OpenFiles(configDir, secretsDir)
	require.NoError(t, err)
	config.SetFiles(f)
	t.Cleanup(func() {
		config.SetFiles(nil)
		_ = f.Close()
	})
	return configDir, secretsDir
}

func write(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
}

func fileDoc(header string) string {
	return `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http:
      url: https://court.example/{id}
      headers: {Authorization: "` + header + `"}
`
}

func TestFileReferences(t *testing.T) {
	configDir, secretsDir := useDirs(t)
	write(t, filepath.Join(configDir, "tokens/court"), "from-config-dir\n")
	write(t, filepath.Join(secretsDir, "court-token"), "from-secrets-dir\r\n")

	for ref, want := range map[string]string{
		"${file:tokens/court}":                          "Bearer from-config-dir",
		"${file:" + configDir + "/tokens/court}":        "Bearer from-config-dir",
		"${file:" + secretsDir + "/court-token}":        "Bearer from-secrets-dir",
		"${file:./tokens/../tokens/court}":              "Bearer from-config-dir",
		"${file:" + secretsDir + "/court-token}-x-${A}": "Bearer from-secrets-dir-x-a",
	} {
		var got []httpBlock
		_, err := config.Parse("connectors.yaml", []byte(fileDoc("Bearer "+ref)), envOf(map[string]string{"A": "a"}), decodeCheck(&got))
		require.NoError(t, err, ref)
		require.Equal(t, want, got[0].Headers["Authorization"], ref)
	}
}

func TestFileReferenceRefused(t *testing.T) {
	configDir, secretsDir := useDirs(t)
	outside := filepath.Join(t.TempDir(), "shadow")
	write(t, outside, "outside-secret-value\n")
	require.NoError(t, os.Symlink(outside, filepath.Join(configDir, "link")))
	write(t, filepath.Join(secretsDir, "empty"), "\n")

	for ref, want := range map[string]string{
		"${file:" + outside + "}":          "is outside the directories",
		"${file:../shadow}":                "is outside the directories",
		"${file:" + configDir + "/../x}":   "is outside the directories",
		"${file:link}":                     "escapes",
		"${file:missing}":                  "no such file",
		"${file:" + secretsDir + "/empty}": "is empty",
	} {
		_, err := config.Parse("connectors.yaml", []byte(fileDoc(ref)), envOf(nil), decodeCheck(nil))
		require.ErrorIs(t, err, config.ErrInvalid, ref)
		require.ErrorContains(t, err, "connectors.yaml:7:", ref)
		require.ErrorContains(t, err, "connectors[0].http.headers.Authorization", ref)
		require.ErrorContains(t, err, want, ref)
		require.NotContains(t, err.Error(), "outside-secret-value", ref)
	}

	// Stored for other instances (PUT, connectors apply): a missing file is
	// stood in for, but a path outside is still refused.
	env := &config.LenientEnv{Env: envOf(nil)}
	_, err := config.Parse("request body", []byte(fileDoc("${file:missing}")), env.Lookup, decodeCheck(nil))
	require.NoError(t, err)
	require.Equal(t, []string{"file:missing"}, env.Unset())
	_, err = config.Parse("request body", []byte(fileDoc("${file:../../etc/passwd}")), env.Lookup, decodeCheck(nil))
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "connectors[0].http.headers.Authorization: ${file:../../etc/passwd}: ../../etc/passwd is outside")
}

// A file's content put where it does not belong is not repeated by the
// error about that field.
func TestFileSecretNotInErrors(t *testing.T) {
	configDir, _ := useDirs(t)
	write(t, filepath.Join(configDir, "token"), "s3cr3t-token-value\n")
	doc := strings.Replace(fileDoc("x"), "https://court.example/{id}", "${file:token}", 1)
	_, err := config.Parse("connectors.yaml", []byte(doc), envOf(nil), func(c *config.Connector) error {
		var b httpBlock
		if err := c.Decode(&b); err != nil {
			return err
		}
		return &config.Error{File: "connectors.yaml", Field: "http.url", Msg: "not a URL: " + b.URL}
	})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3t-token-value")
	require.Contains(t, err.Error(), "${file:token}")
}

func TestSecretFileSettings(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "admin"), "admin-token\n")
	write(t, filepath.Join(dir, "nats"), "nats-password")

	t.Setenv("EXTSYNC_ADMIN_TOKEN_FILE", filepath.Join(dir, "admin"))
	t.Setenv("EXTSYNC_NATS_PASSWORD_FILE", filepath.Join(dir, "nats"))
	s, err := config.LoadSettings()
	require.NoError(t, err)
	require.Equal(t, "admin-token", s.AdminToken.Reveal())
	require.Equal(t, "nats-password", s.NATSPassword.Reveal())

	t.Setenv("EXTSYNC_ADMIN_TOKEN", "also-set")
	_, err = config.LoadSettings()
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "EXTSYNC_ADMIN_TOKEN and EXTSYNC_ADMIN_TOKEN_FILE are both set")
	require.NotContains(t, err.Error(), "also-set")

	t.Setenv("EXTSYNC_ADMIN_TOKEN", "")
	t.Setenv("EXTSYNC_NATS_PASSWORD_FILE", filepath.Join(dir, "missing"))
	_, err = config.LoadSettings()
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "EXTSYNC_NATS_PASSWORD_FILE")
	require.ErrorContains(t, err, "no such file")
}

func TestSecretFileRereadOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write(t, path, "one\n")
	f := config.NewSecretFile(path)
	v, err := f.Value()
	require.NoError(t, err)
	require.Equal(t, "one", v)

	write(t, path, "two-rotated\n")
	later := time.Now().Add(time.Second)
	require.NoError(t, os.Chtimes(path, later, later))
	v, err = f.Value()
	require.NoError(t, err)
	require.Equal(t, "two-rotated", v)
}

func TestSettingsFilesDefaultsToConnectorsDir(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "ca.pem"), "x")
	s := config.Settings{Connectors: filepath.Join(dir, "connectors.yaml")}
	f, err := s.Files()
	require.NoError(t, err)
	defer f.Close()
	_, err = f.ReadFile("ca.pem")
	require.NoError(t, err)
	require.Contains(t, f.Dirs(), "EXTSYNC_CONFIG_DIR ("+dir+")")

	s.SecretsDir = "relative/secrets"
	_, err = s.Files()
	require.ErrorContains(t, err, "EXTSYNC_SECRETS_DIR=relative/secrets: want an absolute path")
}
