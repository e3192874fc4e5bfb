package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

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

// Auth is one way to authenticate; set one field.
type Auth struct {
	Bearer string     `yaml:"bearer"`
	Basic  *BasicAuth `yaml:"basic"`
	APIKey *APIKey    `yaml:"api_key"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// APIKey sends a key in a header of its own.
type APIKey struct {
	Header string `yaml:"header"`
	Value  string `yaml:"value"`
}

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
	for name := range c.Headers {
		if name == "" || strings.ContainsAny(name, " :\r\n") {
			return fmt.Errorf("http.headers: %q is not a valid header name", name)
		}
	}
	if a := c.Auth; a != nil {
		n := 0
		for _, set := range []bool{a.Bearer != "", a.Basic != nil, a.APIKey != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return errors.New("http.auth: set exactly one of bearer, basic, api_key")
		}
		if a.APIKey != nil && a.APIKey.Header == "" {
			return errors.New("http.auth.api_key.header is required")
		}
	}
	return nil
}
