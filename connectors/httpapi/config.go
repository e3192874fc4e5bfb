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
	return c.Auth.Validate("http.auth")
}
