package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// ErrOutside marks a path that leaves the directories the configuration
// may open files in (EXTSYNC_CONFIG_DIR, EXTSYNC_SECRETS_DIR).
var ErrOutside = errors.New("is outside the directories the configuration may read")

// maxConfigFile bounds one file the configuration names (a PEM bundle, a
// template, a secret): a few KiB in practice.
const maxConfigFile = 4 << 20

// Files opens the files a connectors document names (PEM files, templates,
// known_hosts, ${file:PATH} secrets) inside a few directories only, through
// os.Root: a relative path is taken from the configuration directory, an
// absolute one must lie in one of the directories (else ErrOutside), and
// neither `..` nor a symbolic link can lead out of the directory it starts
// in (Root's "path escapes from parent").
//
// A nil *Files opens paths as they are named; that is for kinds used as a
// library. Every extsync command sets one (see SetFiles).
type Files struct {
	dirs []filesDir
}

type filesDir struct {
	setting string // EXTSYNC_CONFIG_DIR or EXTSYNC_SECRETS_DIR
	path    string // absolute and clean
	root    *os.Root
}

// OpenFiles confines file access to configDir (where relative paths
// start) and, when set, secretsDir.
func OpenFiles(configDir, secretsDir string) (*Files, error) {
	f := &Files{}
	for _, d := range []struct{ setting, path string }{
		{Prefix + "_CONFIG_DIR", configDir},
		{Prefix + "_SECRETS_DIR", secretsDir},
	} {
		if d.path == "" {
			continue
		}
		abs, err := filepath.Abs(d.path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%s: %v", ErrInvalid, d.setting, d.path, err)
		}
		root, err := os.OpenRoot(abs)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%s: %v", ErrInvalid, d.setting, d.path, pathCause(err))
		}
		f.dirs = append(f.dirs, filesDir{setting: d.setting, path: abs, root: root})
	}
	if len(f.dirs) == 0 {
		return nil, fmt.Errorf("%w: %s_CONFIG_DIR is empty", ErrInvalid, Prefix)
	}
	return f, nil
}

// Close releases the directories.
func (f *Files) Close() error {
	if f == nil {
		return nil
	}
	var errs []error
	for _, d := range f.dirs {
		errs = append(errs, d.root.Close())
	}
	return errors.Join(errs...)
}

// Dirs describes the directories, for messages: "EXTSYNC_CONFIG_DIR
// (/etc/extsync)".
func (f *Files) Dirs() string {
	if f == nil {
		return "anywhere"
	}
	parts := make([]string, len(f.dirs))
	for i, d := range f.dirs {
		parts[i] = fmt.Sprintf("%s (%s)", d.setting, d.path)
	}
	return strings.Join(parts, " or ")
}

// locate finds the directory a path belongs to and the path inside it.
// It looks at the name only; Root refuses what the name hides (a `..`
// after a symbolic link, a link that leads out).
func (f *Files) locate(name string) (*os.Root, string, error) {
	if name == "" {
		return nil, "", errors.New("the path is empty")
	}
	if !filepath.IsAbs(name) {
		rel := filepath.Clean(name)
		if !filepath.IsLocal(rel) {
			return nil, "", fmt.Errorf("%s %w: %s", name, ErrOutside, f.Dirs())
		}
		return f.dirs[0].root, rel, nil
	}
	clean := filepath.Clean(name)
	for _, d := range f.dirs {
		rel, err := filepath.Rel(d.path, clean)
		if err == nil && filepath.IsLocal(rel) {
			return d.root, rel, nil
		}
	}
	return nil, "", fmt.Errorf("%s %w: %s", name, ErrOutside, f.Dirs())
}

// Check reports whether name may be opened, without opening it.
func (f *Files) Check(name string) error {
	if f == nil {
		return nil
	}
	_, _, err := f.locate(name)
	return err
}

// ReadFile reads a file the configuration names. Its error names the path
// and the cause (errors.Is works with fs.ErrNotExist, fs.ErrPermission and
// ErrOutside), never the content.
func (f *Files) ReadFile(name string) ([]byte, error) {
	r, err := f.open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(io.LimitReader(r, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, pathCause(err))
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("%s: over %d bytes", name, maxConfigFile)
	}
	return data, nil
}

// Stat describes a file the configuration names, following links as
// ReadFile does; callers use its ModTime and Size to notice a change.
func (f *Files) Stat(name string) (fs.FileInfo, error) {
	if f == nil {
		fi, err := os.Stat(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, pathCause(err))
		}
		return fi, nil
	}
	root, rel, err := f.locate(name)
	if err != nil {
		return nil, err
	}
	fi, err := root.Stat(rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, pathCause(err))
	}
	return fi, nil
}

// Path returns the name to hand to a library that opens the file itself
// (x/crypto/ssh/knownhosts), after checking through Root that the file is
// inside and can be opened.
func (f *Files) Path(name string) (string, error) {
	r, err := f.open(name)
	if err != nil {
		return "", err
	}
	_ = r.Close()
	if f == nil || filepath.IsAbs(name) {
		return name, nil
	}
	return filepath.Join(f.dirs[0].path, name), nil
}

func (f *Files) open(name string) (*os.File, error) {
	if f == nil {
		r, err := os.Open(name) // #nosec G304 -- no configuration directory: a kind used as a library, named by its caller
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, pathCause(err))
		}
		return r, nil
	}
	root, rel, err := f.locate(name)
	if err != nil {
		return nil, err
	}
	r, err := root.Open(rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, pathCause(err))
	}
	return r, nil
}

// pathCause drops the *fs.PathError wrapper, whose path the caller's
// message already names.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var processFiles atomic.Pointer[Files]

// SetFiles makes f the directories Parse and LoadFile confine the
// documents they read to; every extsync command calls it with
// Settings.Files. Nil opens paths as named.
func SetFiles(f *Files) { processFiles.Store(f) }

// DefaultFiles is what SetFiles set.
func DefaultFiles() *Files { return processFiles.Load() }

// FileUser is a kind's settings struct that names files: Connector.Decode
// hands it the directories the configuration may open files in.
type FileUser interface {
	UseFiles(f *Files)
}
