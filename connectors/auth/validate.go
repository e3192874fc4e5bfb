package auth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Validate checks the block; messages never echo a value (they may be
// secrets). prefix names the block in messages, e.g. "http.auth". It reads
// no files: NewClient does.
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
	switch {
	case c.Bearer != "":
		if !httpguts.ValidHeaderFieldValue(c.Bearer) || strings.ContainsAny(c.Bearer, " \t") {
			return errors.New(prefix + ".bearer must be the token alone: no \"Bearer \" prefix, spaces or control characters")
		}
	case c.Basic != nil:
		if err := c.Basic.validate(prefix + ".basic"); err != nil {
			return err
		}
	case c.APIKey != nil:
		if err := c.APIKey.validate(prefix + ".api_key"); err != nil {
			return err
		}
	case c.OAuth2 != nil:
		if err := c.OAuth2.validate(prefix + ".oauth2"); err != nil {
			return err
		}
	}
	if c.TLS != nil {
		return c.TLS.validate(prefix + ".tls")
	}
	return nil
}

func (b *BasicAuth) validate(prefix string) error {
	switch {
	case b.User == "":
		return errors.New(prefix + ".user is required")
	case strings.Contains(b.User, ":"):
		// RFC 7617: the server would split user and password at it.
		return errors.New(prefix + ".user cannot contain a colon")
	}
	return nil
}

func (k *APIKey) validate(prefix string) error {
	switch {
	case k.Header == "":
		return errors.New(prefix + ".header is required")
	case !httpguts.ValidHeaderFieldName(k.Header):
		return fmt.Errorf("%s.header %q is not a valid header name", prefix, k.Header)
	case k.Value == "":
		return errors.New(prefix + ".value is required")
	case !httpguts.ValidHeaderFieldValue(k.Value):
		return errors.New(prefix + ".value holds characters a header value cannot have (control characters, line breaks)")
	}
	return nil
}

// reservedParams are form parameters the grant sets itself.
var reservedParams = []string{"grant_type", "scope", "client_id", "client_secret"}

func (o *OAuth2) validate(prefix string) error {
	if o.TokenURL == "" {
		return errors.New(prefix + ".token_url is required")
	}
	u, err := url.Parse(o.TokenURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New(prefix + ".token_url must be an absolute http:// or https:// URL")
	}
	if u.User != nil {
		return errors.New(prefix + ".token_url cannot hold credentials: use client_id and client_secret")
	}
	if o.ClientID == "" {
		return errors.New(prefix + ".client_id is required")
	}
	if o.ClientSecret == "" {
		return errors.New(prefix + ".client_secret is required")
	}
	switch o.AuthStyle {
	case "", "header", "params":
	default:
		return fmt.Errorf("%s.auth_style %q: want header or params", prefix, o.AuthStyle)
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("%s.scopes[%d] must be one non-empty word", prefix, i)
		}
	}
	for k := range o.Params {
		if k == "" {
			return errors.New(prefix + ".params: a parameter name is empty")
		}
		for _, r := range reservedParams {
			if strings.EqualFold(k, r) {
				return fmt.Errorf("%s.params.%s is set by the grant itself", prefix, k)
			}
		}
	}
	return nil
}

func (t *TLS) validate(prefix string) error {
	switch {
	case t.Cert != "" && t.Key == "":
		return errors.New(prefix + ".cert needs tls.key (the client certificate's private key)")
	case t.Key != "" && t.Cert == "":
		return errors.New(prefix + ".key needs tls.cert (the client certificate)")
	case t.CA == "" && t.Cert == "":
		return errors.New(prefix + ": set ca, or cert and key, or all three")
	}
	return nil
}
