package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
	"time"

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
	tmpl, err := parseTemplate(c.URL)
	if err != nil {
		return fmt.Errorf("http.url: %w", err)
	}
	u, err := url.Parse(tmpl.render(func(string) string { return "x" }))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("http.url must be an absolute http:// or https:// URL")
	}
	for name, value := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("http.headers: %q is not a valid header name", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return fmt.Errorf("http.headers.%s: the value has characters a header cannot carry (a newline?)", name)
		}
	}
	if err := c.Auth.Validate("http.auth"); err != nil {
		return err
	}
	return validAuthHeaders(c.Auth)
}

// validAuthHeaders refuses credentials net/http would refuse to send,
// which would otherwise fail every delivery as if the system were down.
func validAuthHeaders(a *Auth) error {
	if a == nil {
		return nil
	}
	if !httpguts.ValidHeaderFieldValue(a.Bearer) {
		return errors.New("http.auth.bearer has characters a header cannot carry (a newline?)")
	}
	if k := a.APIKey; k != nil {
		if !httpguts.ValidHeaderFieldName(k.Header) {
			return fmt.Errorf("http.auth.api_key.header %q is not a valid header name", k.Header)
		}
		if !httpguts.ValidHeaderFieldValue(k.Value) {
			return errors.New("http.auth.api_key.value has characters a header cannot carry (a newline?)")
		}
	}
	return nil
}
