// Package auth is the `auth:` block shared by the HTTP-based connector
// kinds (http, webhook, soap): bearer, basic, API-key header, OAuth2 client
// credentials and mutual TLS, turned into an *http.Client that adds them.
package auth
