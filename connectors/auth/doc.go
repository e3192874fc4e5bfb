// Package auth is the `auth:` block shared by the HTTP-based connector
// kinds (http, webhook, soap): bearer, basic, API-key header, OAuth2 client
// credentials and mutual TLS, turned into an *http.Client that adds them.
//
// A connector validates the block with Config.Validate at start, builds
// its client with Config.NewClient, and classifies a failure to get an
// OAuth2 token (errors.Is(err, ErrToken)) with Classify. README.md beside
// this file documents the block for users.
package auth
