package httpapi

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

// Config is the connector's `http:` block.
type Config struct {
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Timeout config.Duration   `yaml:"timeout"`
	Auth    *Auth             `yaml:"auth"`
	// Bulk is where mode: batch sends a whole batch in one request.
	Bulk *Bulk `yaml:"bulk"`
	// Read is where a record is read back (conflict rules, verify);
	// default: GET on URL.
	Read *Read `yaml:"read"`
	// Delete is how a deletion is sent; default: DELETE on URL.
	Delete *Delete `yaml:"delete"`
	// ConflictMatch makes a refusal whose JSON body matches a conflict,
	// e.g. '$.error.code == "OVERLAPPING_ASSIGNMENT"' (409 and 412 always are).
	ConflictMatch string `yaml:"conflict_match"`
}

// Bulk configures the one request of a batch.
type Bulk struct {
	URL    string `yaml:"url"`
	Method string `yaml:"method"` // default POST
	// Format is json (an array of the mapped events, default) or ndjson.
	Format string `yaml:"format"`
}

// Auth and its parts are the shared `auth:` block (connectors/auth).
type (
	Auth      = auth.Config
	BasicAuth = auth.BasicAuth
	APIKey    = auth.APIKey
)

func (c *Config) setDefaults() {
	if c.Method == "" {
		c.Method = http.MethodPut
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(10 * time.Second)
	}
}

// checkURLTemplate checks a URL template of field (http.url and the
// like): it parses, renders to an absolute http(s) URL, and its
// placeholders sit where a value can go.
func checkURLTemplate(field, raw string) (*url.URL, error) {
	tmpl, err := parseTemplate(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	u, err := url.Parse(tmpl.render(func(int) string { return "x" }))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("%s must be an absolute http:// or https:// URL", field)
	}
	if err := tmpl.checkParts(); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	// net/url re-escapes a path that is not validly percent-encoded from
	// its decoded form, where a value's %2F has become a slash: the value
	// would add path segments.
	if u.RawPath != "" && u.EscapedPath() != u.RawPath {
		return nil, fmt.Errorf("%s: the path has characters that must be percent-encoded (a space is %%20, é is %%C3%%A9)", field)
	}
	return u, nil
}

// validate never echoes header or auth values: they may hold secrets.
func (c *Config) validate() error {
	c.Method = strings.ToUpper(c.Method)
	switch c.Method {
	case http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete:
	default:
		return fmt.Errorf("http.method %q: want PUT, POST, PATCH or DELETE", c.Method)
	}
	if c.URL == "" {
		return errors.New("http.url is required")
	}
	u, err := checkURLTemplate("http.url", c.URL)
	if err != nil {
		return err
	}
	if _, err := url.QueryUnescape(u.RawQuery); err != nil {
		return errors.New("http.url: the query has a % that is not an escape (a % itself is %25)")
	}
	for name, value := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("http.headers: %q is not a valid header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return fmt.Errorf("http.headers.%s: the value has characters a header cannot carry (a newline?)", name)
		}
	}
	if _, err := parseMatch(c.ConflictMatch); err != nil {
		return err
	}
	if err := c.Bulk.validate(); err != nil {
		return err
	}
	if err := c.Read.validate(); err != nil {
		return err
	}
	if err := c.Delete.validate(); err != nil {
		return err
	}
	return c.Auth.Validate("http.auth")
}

func (b *Bulk) validate() error {
	if b == nil {
		return nil
	}
	if b.Method == "" {
		b.Method = http.MethodPost
	}
	if b.Format == "" {
		b.Format = "json"
	}
	b.Method = strings.ToUpper(b.Method)
	switch {
	case b.Method != http.MethodPost && b.Method != http.MethodPut && b.Method != http.MethodPatch:
		return fmt.Errorf("http.bulk.method %q: want POST, PUT or PATCH", b.Method)
	case b.Format != "json" && b.Format != "ndjson":
		return fmt.Errorf("http.bulk.format %q: want json or ndjson", b.Format)
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("http.bulk.url must be an absolute http:// or https:// URL")
	}
	return nil
}

// UseFiles confines the files the block names (auth.tls) to files
// (config.FileUser).
func (c *Config) UseFiles(files *config.Files) { c.Auth.UseFiles(files) }
