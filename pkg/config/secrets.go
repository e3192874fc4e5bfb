package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileSettings are the settings about files: the directories the
// connectors file may read files from, and secrets read from files
// (the *_FILE convention of container platforms).
type FileSettings struct {
	ConfigDir        string `envconfig:"CONFIG_DIR" desc:"the directory PEM files, templates and ${file:} secrets named by connectors are read from (relative paths start here); default: the connectors file's directory"`
	SecretsDir       string `envconfig:"SECRETS_DIR" desc:"a second directory connectors may read files from, for mounted secrets (e.g. /run/secrets/extsync); absolute paths only"`
	AdminTokenFile   string `envconfig:"ADMIN_TOKEN_FILE" desc:"file holding the admin token, instead of ADMIN_TOKEN (trailing newline trimmed)"`
	NATSPasswordFile string `envconfig:"NATS_PASSWORD_FILE" desc:"file holding the NATS password, instead of NATS_PASSWORD; read again at each reconnect"`
}

// resolveFiles fills the secrets named by *_FILE settings. Setting both a
// variable and its _FILE is an error: which one wins would be a guess.
func (s *Settings) resolveFiles() error {
	for _, f := range []struct {
		name, file string
		value      *Secret
	}{
		{"ADMIN_TOKEN", s.AdminTokenFile, &s.AdminToken},
		{"NATS_PASSWORD", s.NATSPasswordFile, &s.NATSPassword},
	} {
		if f.file == "" {
			continue
		}
		if *f.value != "" {
			return fmt.Errorf("%w: %s_%s and %s_%s_FILE are both set: set one", ErrInvalid, Prefix, f.name, Prefix, f.name)
		}
		v, err := NewSecretFile(f.file).Value()
		if err != nil {
			return fmt.Errorf("%w: %s_%s_FILE: %w", ErrInvalid, Prefix, f.name, err)
		}
		*f.value = Secret(v)
	}
	return nil
}

// Files opens the directories connectors may read files from:
// EXTSYNC_CONFIG_DIR (default: the connectors file's directory) and
// EXTSYNC_SECRETS_DIR.
func (s Settings) Files() (*Files, error) {
	dir := s.ConfigDir
	if dir == "" {
		dir = filepath.Dir(s.Connectors)
		// The connectors file's directory: if it is not there, the
		// connectors file is what to report.
		if _, err := os.Stat(dir); err != nil {
			return nil, &Error{File: s.Connectors, Msg: fmt.Sprintf("cannot read the connectors file: %v", pathCause(err))}
		}
	}
	if s.SecretsDir != "" && !filepath.IsAbs(s.SecretsDir) {
		return nil, fmt.Errorf("%w: %s_SECRETS_DIR=%s: want an absolute path", ErrInvalid, Prefix, s.SecretsDir)
	}
	return OpenFiles(dir, s.SecretsDir)
}

// SecretFile is a secret kept in a file, such as a mounted Kubernetes
// Secret: Value reads it again when the file's modification time or size
// changes, so a rotated secret takes effect without a restart. Errors
// name the file, never what it holds.
type SecretFile struct {
	path string

	mu    sync.Mutex
	mod   time.Time
	size  int64
	value string
}

// NewSecretFile reads path on first use.
func NewSecretFile(path string) *SecretFile { return &SecretFile{path: path} }

// Value is the file's content without its trailing newline.
func (f *SecretFile) Value() (string, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("secret file %s: %w", f.path, pathCause(err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.mod.IsZero() && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return f.value, nil
	}
	data, err := os.ReadFile(f.path) // #nosec G304 -- the operator names this file in the process environment, like the connectors file
	if err != nil {
		return "", fmt.Errorf("secret file %s: %w", f.path, pathCause(err))
	}
	v := trimNewline(string(data))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", f.path)
	}
	f.mod, f.size, f.value = fi.ModTime(), fi.Size(), v
	return v, nil
}

// trimNewline drops one trailing line break ("\n" or "\r\n"), which
// editors and `echo` add and no secret means.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// fileRef is the ${file:PATH} form of a reference.
const fileRef = "file:"

// readSecretFile resolves ${file:PATH} through files. A file that is
// missing but inside the directories is asked of env as "file:PATH", which
// lets LenientEnv stand in for it when a document is stored for other
// instances; a path outside is always refused.
func readSecretFile(files *Files, env LookupEnv, path string) (string, error) {
	if err := files.Check(path); err != nil {
		return "", err
	}
	data, err := files.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if v, ok := env(fileRef + path); ok && v != "" {
				return v, nil
			}
		}
		return "", fmt.Errorf("cannot read: %w", err)
	}
	v := trimNewline(string(data))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}
