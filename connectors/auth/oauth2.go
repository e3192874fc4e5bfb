package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// defaultTokenTimeout bounds a token request when the client has no timeout.
const defaultTokenTimeout = 30 * time.Second

// tokenTimeout bounds a token request to 3/4 of the client's timeout. When
// the client's own timeout fires, net/http replaces the error with its
// text, and errors.Is(err, ErrToken) would no longer hold; a hung token
// endpoint must fail first.
func tokenTimeout(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout * 3 / 4
	}
	return defaultTokenTimeout
}

// oauth2Transport sets the Authorization header from the cached token and
// retries a request once with a fresh token when the API answers 401.
type oauth2Transport struct {
	base   http.RoundTripper
	tokens *tokenCache
}

func (t *oauth2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req) {
		return t.base.RoundTrip(req)
	}
	tok, src, err := t.tokens.token()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, req.Body, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	// The API refused the token (revoked, rotated keys, expired early):
	// forget it, so that this retry or the next request gets another.
	t.tokens.drop(src)
	body := req.Body
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil // the body is spent and cannot be sent again
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	tok, _, err = t.tokens.token()
	if err != nil {
		if body != nil {
			_ = body.Close()
		}
		drain(resp.Body)
		return nil, err
	}
	drain(resp.Body)
	return t.send(req, body, tok)
}

// send sends a copy of req with body and the token; req stays as it was.
func (t *oauth2Transport) send(req *http.Request, body io.ReadCloser, tok *oauth2.Token) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	tok.SetAuthHeader(r)
	return t.base.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pooled connections.
func (t *oauth2Transport) CloseIdleConnections() { closeIdle(t.base) }

// tokenCache holds the current token source: an oauth2.ReuseTokenSource,
// which hands out its token until it is about to expire and fetches one
// at a time. Dropping the token replaces the source with an empty one.
type tokenCache struct {
	fetch oauth2.TokenSource // asks token_url every time

	mu  sync.Mutex
	src oauth2.TokenSource
}

func newTokenCache(o *OAuth2, client *http.Client) *tokenCache {
	cc := &clientcredentials.Config{
		ClientID:     o.ClientID,
		ClientSecret: o.ClientSecret,
		TokenURL:     o.TokenURL,
		Scopes:       o.Scopes,
		// Set, not detected: detection sends the secret a second time
		// after every refusal and doubles the wait for a hung endpoint.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	if o.AuthStyle == "params" {
		cc.AuthStyle = oauth2.AuthStyleInParams
	}
	if len(o.Params) > 0 {
		cc.EndpointParams = url.Values{}
		for k, v := range o.Params {
			cc.EndpointParams.Set(k, v)
		}
	}
	f := &fetcher{
		cc:     cc,
		ctx:    context.WithValue(context.Background(), oauth2.HTTPClient, client),
		url:    safeURL(o.TokenURL),
		secret: o.ClientSecret,
	}
	return &tokenCache{fetch: f, src: oauth2.ReuseTokenSource(nil, f)}
}

// token returns a valid token and the source it came from (for drop).
func (c *tokenCache) token() (*oauth2.Token, oauth2.TokenSource, error) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	tok, err := src.Token()
	return tok, src, err
}

// drop forgets the token that src handed out, unless another request has
// dropped it already: many requests refused at once cause one new fetch.
func (c *tokenCache) drop(src oauth2.TokenSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.src == src {
		c.src = oauth2.ReuseTokenSource(nil, c.fetch)
	}
}

// fetcher gets a new token with the client-credentials grant, over the
// client in ctx (the connector's TLS settings), and turns a failure into a
// *TokenError without secrets.
type fetcher struct {
	cc     *clientcredentials.Config
	ctx    context.Context
	url    string
	secret string
}

func (f *fetcher) Token() (*oauth2.Token, error) {
	tok, err := f.cc.Token(f.ctx)
	if err != nil {
		return nil, f.tokenError(err)
	}
	return tok, nil
}

func (f *fetcher) tokenError(err error) *TokenError {
	te := &TokenError{URL: f.url}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		// Its own message quotes the response body; keep the parts
		// RFC 6749 defines and drop the rest.
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		te.Code = scrub(re.ErrorCode, f.secret, 64)
		te.Description = scrub(re.ErrorDescription, f.secret, 200)
		return te
	}
	// net/http's *url.Error repeats the full URL; keep what it wraps.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	te.Err = err
	return te
}

// safeURL drops the query and user info of a URL for messages.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(token_url)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
