package soap

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/pkg/config"
)

// SOAP versions.
const (
	Version11 = "1.1"
	Version12 = "1.2"
)

// WS-Security password types.
const (
	PasswordText   = "text"
	PasswordDigest = "digest"
)

// Config is the connector's `soap:` block.
type Config struct {
	// URL is the service endpoint, an absolute http:// or https:// URL.
	URL string `yaml:"url"`
	// Version is "1.1" (default) or "1.2".
	Version string `yaml:"version"`
	// Action is the SOAPAction (1.1) or the action parameter of the
	// Content-Type (1.2); may be empty.
	Action string `yaml:"action"`
	// Template is the content of soap:Body, a text/template over the
	// mapped event whose every {{...}} output is XML-escaped.
	Template string `yaml:"template"`
	// TemplateFile is a file holding the template, read at start; set it
	// or Template, not both.
	TemplateFile string            `yaml:"template_file"`
	Headers      map[string]string `yaml:"headers"`
	Timeout      config.Duration   `yaml:"timeout"`
	Auth         *auth.Config      `yaml:"auth"`
	WSSE         *WSSE             `yaml:"wsse"`
	// Read is the service's read operation, for verify; nil: the
	// connector cannot read records back.
	Read *Read `yaml:"read"`

	// files are the directories template_file may be in; see UseFiles.
	files *config.Files
}

// WSSE is an OASIS WS-Security 1.0 UsernameToken sent in the SOAP Header.
type WSSE struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordType is "text" (default: PasswordText, the password as it
	// is) or "digest" (PasswordDigest: Base64(SHA-1(nonce+created+password))).
	PasswordType string `yaml:"password_type"`
}

// reserved are headers the connector sets itself.
var reserved = []string{"Content-Type", "SOAPAction", "Idempotency-Key", "Content-Length"}

func (c *Config) setDefaults() {
	if c.Version == "" {
		c.Version = Version11
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(10 * time.Second)
	}
	if c.WSSE != nil && c.WSSE.PasswordType == "" {
		c.WSSE.PasswordType = PasswordText
	}
}

// validate checks the block. Messages never echo a header, auth or wsse
// value: they may be secrets.
func (c *Config) validate() error {
	if c.URL == "" {
		return errors.New("soap.url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("soap.url must be an absolute http:// or https:// URL")
	}
	switch c.Version {
	case Version11, Version12:
	default:
		return fmt.Errorf("soap.version %q: want \"1.1\" or \"1.2\"", c.Version)
	}
	if err := checkAction("soap.action", c.Action); err != nil {
		return err
	}
	switch {
	case c.Template != "" && c.TemplateFile != "":
		return errors.New("soap: set template or template_file, not both")
	case c.Template == "" && c.TemplateFile == "":
		return errors.New("soap.template (or template_file) is required: the content of soap:Body")
	}
	for name, value := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("soap.headers: %q is not a valid header name", name)
		}
		for _, r := range reserved {
			if strings.EqualFold(name, r) {
				return fmt.Errorf("soap.headers: %s is set by the connector and cannot be configured", r)
			}
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return fmt.Errorf("soap.headers.%s: the value has characters a header cannot carry (a newline?)", name)
		}
	}
	if c.Timeout <= 0 {
		return errors.New("soap.timeout must be positive")
	}
	if err := c.WSSE.validate(); err != nil {
		return err
	}
	if err := c.Read.validate(); err != nil {
		return err
	}
	return c.Auth.Validate("soap.auth")
}

// checkAction refuses an action that cannot travel in a quoted string
// (the SOAPAction header, or the action parameter of the 1.2
// Content-Type).
func checkAction(field, action string) error {
	if strings.ContainsAny(action, "\"\\") || !httpguts.ValidHeaderFieldValue(action) {
		return fmt.Errorf("%s cannot contain quotes, backslashes or control characters", field)
	}
	return nil
}

func (w *WSSE) validate() error {
	if w == nil {
		return nil
	}
	switch {
	case w.Username == "":
		return errors.New("soap.wsse.username is required")
	case w.Password == "":
		return errors.New("soap.wsse.password is required")
	}
	switch w.PasswordType {
	case PasswordText, PasswordDigest:
	default:
		return fmt.Errorf("soap.wsse.password_type %q: want text or digest", w.PasswordType)
	}
	return nil
}

// loadTemplate returns the template text and the name its errors use.
// template_file is read here, at start, like the auth block's TLS files:
// a local file, not a call to the service.
func (c *Config) loadTemplate() (text, name string, err error) {
	if c.TemplateFile == "" {
		return c.Template, "soap.template", nil
	}
	b, err := c.files.ReadFile(c.TemplateFile)
	if err != nil {
		return "", "", fmt.Errorf("soap.template_file: %w", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return "", "", fmt.Errorf("soap.template_file %s is empty", c.TemplateFile)
	}
	return string(b), "soap.template_file " + c.TemplateFile, nil
}

// secrets lists the configured values that must never reach an error
// message, even when a service echoes the request in its fault.
func (c *Config) secrets() []string {
	var s []string
	if w := c.WSSE; w != nil {
		s = append(s, w.Password)
	}
	if a := c.Auth; a != nil {
		s = append(s, a.Bearer)
		if a.Basic != nil {
			s = append(s, a.Basic.Password)
		}
		if a.APIKey != nil {
			s = append(s, a.APIKey.Value)
		}
		if a.OAuth2 != nil {
			s = append(s, a.OAuth2.ClientSecret)
		}
	}
	for name, value := range c.Headers {
		if sensitiveHeader(name) {
			s = append(s, value)
			if _, v, ok := strings.Cut(value, " "); ok { // "Bearer <token>"
				s = append(s, v)
			}
		}
	}
	var out []string
	for _, v := range s {
		if len(v) >= 4 { // shorter "secrets" would cut ordinary words out
			out = append(out, v)
		}
	}
	return out
}

func sensitiveHeader(name string) bool {
	n := strings.ToLower(http.CanonicalHeaderKey(name))
	if n == "authorization" || n == "cookie" || n == "proxy-authorization" {
		return true
	}
	for _, w := range []string{"key", "token", "secret", "auth", "password", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// UseFiles confines the files the block names (template_file, auth.tls)
// to files (config.FileUser).
func (c *Config) UseFiles(files *config.Files) {
	c.files = files
	c.Auth.UseFiles(files)
}
