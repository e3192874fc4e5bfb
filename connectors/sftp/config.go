package sftp

import (
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hms/extsync/pkg/config"
)

// Formats of the files written.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// Config is the connector's `sftp:` block.
type Config struct {
	// Addr is host:port of the server (port 22 when left out).
	Addr string `yaml:"addr"`
	User string `yaml:"user"`
	// Password, or PrivateKey (a path to a PEM/OpenSSH key file, with
	// Passphrase when the key is encrypted), or both.
	Password   config.Secret `yaml:"password"`
	PrivateKey string        `yaml:"private_key"`
	Passphrase config.Secret `yaml:"passphrase"`
	// KnownHosts is the path of a known_hosts file that holds the server's
	// host key (ssh-keyscan -p PORT HOST > known_hosts). Required.
	KnownHosts string `yaml:"known_hosts"`
	// Dir is the remote directory the files go to; it must exist.
	Dir string `yaml:"dir"`
	// Filename is the name template: {connector}, {time}, {seq}, {id}.
	Filename string `yaml:"filename"`
	// Format is jsonl (default) or csv.
	Format string `yaml:"format"`
	// Columns are the CSV columns in order: dotted paths into the mapped
	// body. Required for csv.
	Columns []string        `yaml:"columns"`
	Timeout config.Duration `yaml:"timeout"`

	// files are the directories known_hosts and private_key may be in;
	// see UseFiles.
	files *config.Files
}

func (c *Config) setDefaults() {
	if c.Format == "" {
		c.Format = FormatJSONL
	}
	if c.Filename == "" {
		c.Filename = "{connector}-{time}-{seq}." + c.Format
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(30 * time.Second)
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			c.Addr = net.JoinHostPort(c.Addr, "22")
		}
	}
}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// validate checks the block and loads what it points to: the known_hosts
// file and the private key. Messages never show the password or passphrase.
func (c *Config) validate() (ssh.HostKeyCallback, []ssh.AuthMethod, error) {
	switch {
	case c.Addr == "":
		return nil, nil, errors.New("sftp.addr is required (host:port)")
	case c.User == "":
		return nil, nil, errors.New("sftp.user is required")
	case c.Password == "" && c.PrivateKey == "":
		return nil, nil, errors.New("sftp: set password or private_key (or both)")
	case c.KnownHosts == "":
		return nil, nil, errors.New("sftp.known_hosts is required: the server's host key is always checked " +
			"(create the file with: ssh-keyscan -p PORT HOST > known_hosts)")
	case !path.IsAbs(c.Dir):
		return nil, nil, fmt.Errorf("sftp.dir %q: want an absolute remote path such as /incoming", c.Dir)
	case c.Format != FormatJSONL && c.Format != FormatCSV:
		return nil, nil, fmt.Errorf("sftp.format %q: want jsonl or csv", c.Format)
	case c.Format == FormatCSV && len(c.Columns) == 0:
		return nil, nil, errors.New("sftp.columns is required with format csv: the columns in order")
	}
	if err := checkTemplate(c.Filename); err != nil {
		return nil, nil, err
	}
	known, err := c.files.Path(c.KnownHosts)
	if err != nil {
		return nil, nil, fmt.Errorf("sftp.known_hosts: %w", err)
	}
	hostKeys, err := knownhosts.New(known)
	if err != nil {
		return nil, nil, fmt.Errorf("sftp.known_hosts: %w", err)
	}
	var auth []ssh.AuthMethod
	if c.PrivateKey != "" {
		signer, err := c.signer()
		if err != nil {
			return nil, nil, err
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if c.Password != "" {
		auth = append(auth, ssh.Password(c.Password.Reveal()))
	}
	return explainHostKey(hostKeys, c.KnownHosts), auth, nil
}

// explainHostKey makes a refused host key say, as ssh does, which key the
// server presented (type and SHA256 fingerprint) and what the known_hosts
// file pins instead, so a person can check it with the server's operator.
// The knownhosts error stays wrapped: it is what classify looks for.
func explainHostKey(check ssh.HostKeyCallback, file string) ssh.HostKeyCallback {
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := check(host, remote, key)
		var keyErr *knownhosts.KeyError
		if err == nil || !errors.As(err, &keyErr) {
			return err
		}
		presented := fmt.Sprintf("%s key %s", key.Type(), ssh.FingerprintSHA256(key))
		if len(keyErr.Want) == 0 {
			return fmt.Errorf("host %s is not in %s: the server presented %s; check it with the server's operator, "+
				"then add it (ssh-keyscan): %w", host, file, presented, err)
		}
		pinned := make([]string, len(keyErr.Want))
		for i, w := range keyErr.Want {
			pinned[i] = fmt.Sprintf("%s key %s (%s:%d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line)
		}
		return fmt.Errorf("host key of %s has changed: the server presented %s, %s pins %s; "+
			"someone may be intercepting the connection, or the key was replaced: check with the server's operator: %w",
			host, presented, file, strings.Join(pinned, ", "), err)
	}
}

func (c *Config) signer() (ssh.Signer, error) {
	pem, err := c.files.ReadFile(c.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("sftp.private_key: %w", err)
	}
	var signer ssh.Signer
	if c.Passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(c.Passphrase.Reveal()))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return nil, fmt.Errorf("sftp.private_key %s is encrypted: set sftp.passphrase", c.PrivateKey)
	case err != nil:
		// The parser's message may quote key material: not repeated.
		return nil, fmt.Errorf("sftp.private_key %s is not a readable private key (or the passphrase is wrong)", c.PrivateKey)
	}
	return signer, nil
}

// checkTemplate refuses names that could leave dir or hide the file.
func checkTemplate(t string) error {
	for _, p := range placeholderRE.FindAllString(t, -1) {
		switch p {
		case "{connector}", "{time}", "{seq}", "{id}":
		default:
			return fmt.Errorf("sftp.filename %q: unknown placeholder %s (known: {connector} {time} {seq} {id})", t, p)
		}
	}
	literal := placeholderRE.ReplaceAllString(t, "x")
	switch {
	case strings.ContainsAny(literal, `/\`) || strings.Contains(literal, ".."):
		return fmt.Errorf("sftp.filename %q: a file name, not a path (no /, \\ or ..)", t)
	case strings.HasPrefix(t, "."):
		return fmt.Errorf("sftp.filename %q: must not start with a dot (hidden names are the uploads in progress)", t)
	}
	return nil
}

// UseFiles confines the files the block names (known_hosts, private_key)
// to files (config.FileUser).
func (c *Config) UseFiles(files *config.Files) { c.files = files }
