package auth

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hms/extsync/pkg/config"
)

// Config is an `auth:` block; set at most one of Bearer, Basic, APIKey,
// OAuth2. TLS (client certificate, custom CA) combines with any of them.
type Config struct {
	Bearer string     `yaml:"bearer"`
	Basic  *BasicAuth `yaml:"basic"`
	APIKey *APIKey    `yaml:"api_key"`
	OAuth2 *OAuth2    `yaml:"oauth2"`
	TLS    *TLS       `yaml:"tls"`

	// files are the directories the TLS files may be in; see UseFiles.
	files *config.Files
}

// UseFiles confines the files the block names (the TLS PEM files) to
// files (EXTSYNC_CONFIG_DIR); a kind's settings call it from their own
// UseFiles (config.FileUser). Without it paths are opened as named.
func (c *Config) UseFiles(files *config.Files) {
	if c != nil {
		c.files = files
	}
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
	// Params are extra form parameters of the token request, such as
	// audience (Auth0) or resource (Azure AD v1).
	Params map[string]string `yaml:"params"`
	// AuthStyle is how the client authenticates to token_url: "header"
	// (HTTP Basic, the default, which RFC 6749 requires servers to accept)
	// or "params" (client_id and client_secret in the form body).
	AuthStyle string `yaml:"auth_style"`
}

// TLS is a client certificate and/or a CA bundle, as PEM files.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// NewClient returns a client whose requests carry the credentials, built
// on base (a tuned transport; cloned, not modified; nil means
// http.DefaultTransport) with the given timeout. A nil *Config gives a
// plain client. The block is validated first; TLS files are read and
// parsed here, and an error names the file, never its content.
//
// The client speaks TLS 1.2 or later and does not follow redirects: a 3xx
// comes back to the caller as it is. Following one could turn a PUT or POST
// into a GET whose 200 looks like a delivery, and would take the request
// (and, for a header that is not Authorization, the credentials) to
// wherever the Location points.
//
// With oauth2 the client gets its token from token_url over the same TLS
// settings, reuses it until it expires, and on a 401 from the API fetches
// a fresh one and sends the request once more. Failing to get a token is
// an error matching ErrToken; see Classify.
func (c *Config) NewClient(base *http.Transport, timeout time.Duration) (*http.Client, error) {
	if err := c.Validate("auth"); err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.MinVersion = max(t.TLSClientConfig.MinVersion, tls.VersionTLS12)
	if c != nil && c.TLS != nil {
		if err := c.TLS.apply(t.TLSClientConfig, c.files); err != nil {
			return nil, err
		}
	}

	var rt http.RoundTripper = t
	switch {
	case c == nil:
	case c.OAuth2 != nil:
		tokenClient := &http.Client{Transport: t, Timeout: tokenTimeout(timeout), CheckRedirect: noRedirects}
		rt = &oauth2Transport{base: t, tokens: newTokenCache(c.OAuth2, tokenClient)}
	default:
		if h := c.staticHeader(); len(h) > 0 {
			rt = &headerTransport{base: t, header: h}
		}
	}
	return &http.Client{Transport: rt, Timeout: timeout, CheckRedirect: noRedirects}, nil
}

// noRedirects hands a 3xx back to the caller (see NewClient).
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

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
	if !sameOrigin(req) {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, v := range t.header {
		req.Header[k] = v
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pooled connections.
func (t *headerTransport) CloseIdleConnections() { closeIdle(t.base) }

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// sameOrigin reports whether req goes to the scheme and host of the request
// its client was asked to send. They differ only when a client follows a
// redirect (the clients NewClient builds do not, but a caller may change
// CheckRedirect); credentials are for the configured host only.
func sameOrigin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return first == req || origin(first.URL) == origin(req.URL)
}

func origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// drain reads a little of an unwanted body and closes it, so that the
// connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// closeBody closes a request body the transport will not send, as the
// http.RoundTripper contract asks.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
