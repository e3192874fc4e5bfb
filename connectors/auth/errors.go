package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hms/extsync/connectors"
)

// ErrToken matches (errors.Is) every failure to get an OAuth2 access token
// from token_url. The client NewClient builds returns it from Do, wrapped
// in a *url.Error as net/http wraps every transport error, and no request
// reaches the API.
//
// The error is a *TokenError. A connector should not treat it as just
// another network error: it is about the token endpoint, not the API, and
// part of it cannot be cured by retrying. Classify (or TokenError.Class)
// gives its class:
//
//   - Transient: the token endpoint was unreachable, timed out or failed
//     the TLS handshake; it answered 5xx, 408, 425 or 429, or the OAuth2
//     error temporarily_unavailable or server_error; or it answered 2xx
//     with something that is not a token.
//   - Permanent: any other answer, above all 400 or 401 with
//     invalid_client (wrong client_id or client_secret), invalid_scope,
//     unauthorized_client or unsupported_grant_type, and 403 or 404 (wrong
//     token_url). Retrying sends the same credentials and gets the same
//     answer; the event belongs in the dead-letter stream until the
//     connector's auth block is fixed, then it can be replayed.
//
// So, where a connector turns the error of client.Do into a delivery error:
//
//	resp, err := client.Do(req)
//	if errors.Is(err, auth.ErrToken) {
//		return &connectors.DeliveryError{Class: auth.Classify(err), Err: err}
//	}
//
// Status stays 0 there: DeliveryError.Status is the external system's
// answer, and the API gave none. TokenError.Status holds the token
// endpoint's. The message names token_url (without query or user info)
// and the endpoint's status and OAuth2 error code, never the client secret
// or a token.
var ErrToken = errors.New("oauth2: cannot get an access token")

// TokenError is a failure to get an access token; it matches ErrToken.
type TokenError struct {
	// URL is token_url without its query and user info.
	URL string
	// Status is the token endpoint's HTTP status, 0 if it gave no answer
	// that could be read.
	Status int
	// Code and Description are RFC 6749's error and error_description,
	// if the endpoint sent them (the description shortened, and any
	// occurrence of the client secret cut out).
	Code, Description string
	// Err is the cause when the endpoint gave no usable answer: a network,
	// TLS or timeout error (so connectors.IsNetwork sees it), or a reply
	// that is not a token.
	Err error
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString(ErrToken.Error())
	b.WriteString(" from ")
	b.WriteString(e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
		if e.Description != "" {
			fmt.Fprintf(&b, " %q", e.Description)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, if any.
func (e *TokenError) Unwrap() error { return e.Err }

// Is makes every TokenError match ErrToken.
func (e *TokenError) Is(target error) bool { return target == ErrToken }

// permanentCodes are RFC 6749 section 5.2 errors that the same request
// will meet again.
var permanentCodes = map[string]bool{
	"invalid_request":        true,
	"invalid_client":         true,
	"invalid_grant":          true,
	"unauthorized_client":    true,
	"unsupported_grant_type": true,
	"invalid_scope":          true,
}

// Class says whether retrying can help; see ErrToken.
func (e *TokenError) Class() connectors.Class {
	switch {
	case e.Code == "temporarily_unavailable" || e.Code == "server_error":
		return connectors.Transient
	case permanentCodes[e.Code]:
		return connectors.Permanent
	case e.Status == 0, e.Status >= 200 && e.Status < 300, e.Status >= 500:
		return connectors.Transient
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooEarly, e.Status == http.StatusTooManyRequests:
		return connectors.Transient
	}
	return connectors.Permanent
}

// Classify returns the class of an error from a client that NewClient
// built: a token failure by TokenError.Class (see ErrToken), anything else
// as connectors.Classify does.
func Classify(err error) connectors.Class {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Class()
	}
	return connectors.Classify(err)
}

// scrub shortens text from the token endpoint and cuts the secret out of
// it, in case the endpoint echoes what it was sent.
func scrub(s, secret string, limit int) string {
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
		s = strings.ReplaceAll(s, url.QueryEscape(secret), "[redacted]")
	}
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "..."
	}
	return s
}
