package auth

import (
	"errors"
	"net/http"
	"time"
)

// Config is an `auth:` block; set at most one of Bearer, Basic, APIKey,
// OAuth2. TLS (client certificate, custom CA) combines with any of them.
type Config struct {
	Bearer string     `yaml:"bearer"`
	Basic  *BasicAuth `yaml:"basic"`
	APIKey *APIKey    `yaml:"api_key"`
	OAuth2 *OAuth2    `yaml:"oauth2"`
	TLS    *TLS       `yaml:"tls"`
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

// OAuth2 is the client-credentials grant.
type OAuth2 struct {
	TokenURL     string   `yaml:"token_url"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Scopes       []string `yaml:"scopes"`
}

// TLS is a client certificate and/or a CA bundle, as PEM files.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Validate checks the block; messages never echo a value (they may be
// secrets). prefix names the block in messages, e.g. "http.auth".
func (c *Config) Validate(prefix string) error {
	if c == nil {
		return nil
	}
	n := 0
	for _, set := range []bool{c.Bearer != "", c.Basic != nil, c.APIKey != nil, c.OAuth2 != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New(prefix + ": set only one of bearer, basic, api_key, oauth2")
	}
	if c.APIKey != nil && c.APIKey.Header == "" {
		return errors.New(prefix + ".api_key.header is required")
	}
	return nil
}

// NewClient returns a client whose requests carry the credentials, built
// on base (a tuned transport; cloned, not modified) with the given timeout.
// A nil *Config gives a plain client.
func (c *Config) NewClient(base *http.Transport, timeout time.Duration) (*http.Client, error) {
	var rt http.RoundTripper = base
	if c != nil {
		rt = &headerTransport{base: base, header: c.staticHeader()}
	}
	return &http.Client{Transport: rt, Timeout: timeout}, nil
}

func (c *Config) staticHeader() http.Header {
	h := http.Header{}
	switch {
	case c.Bearer != "":
		h.Set("Authorization", "Bearer "+c.Bearer)
	case c.Basic != nil:
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(c.Basic.User, c.Basic.Password)
		h.Set("Authorization", r.Header.Get("Authorization"))
	case c.APIKey != nil:
		h.Set(c.APIKey.Header, c.APIKey.Value)
	}
	return h
}

// headerTransport adds fixed credential headers to each request.
type headerTransport struct {
	base   http.RoundTripper
	header http.Header
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.header) == 0 {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = v
	}
	return t.base.RoundTrip(req)
}
