package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validOAuth2() *OAuth2 {
	return &OAuth2{TokenURL: "https://idp.example/oauth/token", ClientID: "extsync", ClientSecret: "SECRET"}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
	}{
		{"nil", nil},
		{"empty", &Config{}},
		{"bearer", &Config{Bearer: "eyJhbGciOi.SECRET-x_y~z+/=="}},
		{"basic", &Config{Basic: &BasicAuth{User: "clerk", Password: "pa:ss wörd\n"}}},
		{"basic without password", &Config{Basic: &BasicAuth{User: "clerk"}}},
		{"api key", &Config{APIKey: &APIKey{Header: "X-Api-Key", Value: "SECRET key with spaces"}}},
		{"oauth2", &Config{OAuth2: validOAuth2()}},
		{"oauth2 over http, with scopes, params and auth_style", &Config{OAuth2: &OAuth2{
			TokenURL: "http://idp.internal:8080/token?tenant=t1", ClientID: "c", ClientSecret: "s",
			Scopes: []string{"a", "b:write"}, Params: map[string]string{"audience": "https://api"}, AuthStyle: "params",
		}}},
		{"tls ca only", &Config{TLS: &TLS{CA: "/etc/extsync/ca.pem"}}},
		{"tls cert and key", &Config{TLS: &TLS{Cert: "c.pem", Key: "k.pem"}}},
		{"tls all three with bearer", &Config{Bearer: "t", TLS: &TLS{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"}}},
		{"tls with oauth2", &Config{OAuth2: validOAuth2(), TLS: &TLS{CA: "ca.pem"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.cfg.Validate("http.auth"))
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	oauth2With := func(f func(*OAuth2)) *Config {
		o := validOAuth2()
		f(o)
		return &Config{OAuth2: o}
	}
	tests := []struct {
		name string
		cfg  *Config
		want string
	}{
		{"bearer and basic", &Config{Bearer: "SECRET", Basic: &BasicAuth{User: "u", Password: "SECRET"}}, "http.auth: set only one of bearer, basic, api_key, oauth2"},
		{"bearer and oauth2", &Config{Bearer: "SECRET", OAuth2: validOAuth2()}, "set only one of"},
		{"api key and oauth2", &Config{APIKey: &APIKey{Header: "K", Value: "SECRET"}, OAuth2: validOAuth2()}, "set only one of"},
		{"all four", &Config{Bearer: "SECRET", Basic: &BasicAuth{}, APIKey: &APIKey{}, OAuth2: &OAuth2{}}, "set only one of"},

		{"bearer with a line break", &Config{Bearer: "SECRET\r\nX-Injected: 1"}, "http.auth.bearer must be the token alone"},
		{"bearer with the scheme", &Config{Bearer: "Bearer SECRET"}, `no "Bearer " prefix`},
		{"bearer with a trailing newline", &Config{Bearer: "SECRET\n"}, "http.auth.bearer"},

		{"basic without user", &Config{Basic: &BasicAuth{Password: "SECRET"}}, "http.auth.basic.user is required"},
		{"basic user with a colon", &Config{Basic: &BasicAuth{User: "a:SECRET", Password: "SECRET"}}, "http.auth.basic.user cannot contain a colon"},

		{"api key without header", &Config{APIKey: &APIKey{Value: "SECRET"}}, "http.auth.api_key.header is required"},
		{"api key header with a space", &Config{APIKey: &APIKey{Header: "X Api Key", Value: "SECRET"}}, `http.auth.api_key.header "X Api Key" is not a valid header name`},
		{"api key header with a colon", &Config{APIKey: &APIKey{Header: "X-Key:", Value: "SECRET"}}, "not a valid header name"},
		{"api key without value", &Config{APIKey: &APIKey{Header: "X-Api-Key"}}, "http.auth.api_key.value is required"},
		{"api key value with a line break", &Config{APIKey: &APIKey{Header: "X-Api-Key", Value: "SECRET\nX-Injected: 1"}}, "http.auth.api_key.value holds characters"},

		{"oauth2 without token_url", oauth2With(func(o *OAuth2) { o.TokenURL = "" }), "http.auth.oauth2.token_url is required"},
		{"oauth2 relative token_url", oauth2With(func(o *OAuth2) { o.TokenURL = "/oauth/token" }), "http.auth.oauth2.token_url must be an absolute http:// or https:// URL"},
		{"oauth2 token_url without host", oauth2With(func(o *OAuth2) { o.TokenURL = "https:///token" }), "absolute http:// or https:// URL"},
		{"oauth2 token_url of another scheme", oauth2With(func(o *OAuth2) { o.TokenURL = "ftp://idp.example/token" }), "absolute http:// or https:// URL"},
		{"oauth2 token_url that does not parse", oauth2With(func(o *OAuth2) { o.TokenURL = "https://idp.example/%zzSECRET" }), "absolute http:// or https:// URL"},
		{"oauth2 token_url with credentials", oauth2With(func(o *OAuth2) { o.TokenURL = "https://u:SECRET@idp.example/token" }), "token_url cannot hold credentials"},
		{"oauth2 without client_id", oauth2With(func(o *OAuth2) { o.ClientID = "" }), "http.auth.oauth2.client_id is required"},
		{"oauth2 without client_secret", oauth2With(func(o *OAuth2) { o.ClientSecret = "" }), "http.auth.oauth2.client_secret is required"},
		{"oauth2 empty scope", oauth2With(func(o *OAuth2) { o.Scopes = []string{"a", ""} }), "http.auth.oauth2.scopes[1] must be one non-empty word"},
		{"oauth2 scope with a space", oauth2With(func(o *OAuth2) { o.Scopes = []string{"a b"} }), "scopes[0]"},
		{"oauth2 param that the grant sets", oauth2With(func(o *OAuth2) { o.Params = map[string]string{"client_secret": "SECRET"} }), "http.auth.oauth2.params.client_secret is set by the grant itself"},
		{"oauth2 grant_type param", oauth2With(func(o *OAuth2) { o.Params = map[string]string{"Grant_Type": "password"} }), "is set by the grant itself"},
		{"oauth2 empty param name", oauth2With(func(o *OAuth2) { o.Params = map[string]string{"": "x"} }), "parameter name is empty"},
		{"oauth2 unknown auth_style", oauth2With(func(o *OAuth2) { o.AuthStyle = "auto" }), `http.auth.oauth2.auth_style "auto": want header or params`},

		{"tls cert without key", &Config{TLS: &TLS{Cert: "c.pem"}}, "http.auth.tls.cert needs tls.key"},
		{"tls key without cert", &Config{TLS: &TLS{Key: "k.pem"}}, "http.auth.tls.key needs tls.cert"},
		{"tls key and CA without cert", &Config{TLS: &TLS{CA: "ca.pem", Key: "k.pem"}}, "http.auth.tls.key needs tls.cert"},
		{"tls cert and CA without key", &Config{TLS: &TLS{CA: "ca.pem", Cert: "c.pem"}}, "http.auth.tls.cert needs tls.key"},
		{"empty tls block", &Config{TLS: &TLS{}}, "http.auth.tls: set ca, or cert and key"},
		{"bearer fine, tls not", &Config{Bearer: "SECRET", TLS: &TLS{Cert: "c.pem"}}, "tls.cert needs tls.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("http.auth")
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), "SECRET")

			// NewClient refuses the same block, naming it "auth".
			c, err := tt.cfg.NewClient(nil, time.Second)
			require.Nil(t, c)
			require.Error(t, err)
			require.Contains(t, err.Error(), strings.Replace(tt.want, "http.auth", "auth", 1))
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}
