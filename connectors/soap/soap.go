package soap

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
)

// Kind is the connectors-file kind this package serves.
const Kind = "soap"

// maxResponse bounds how much of a response is read looking for a fault.
const maxResponse = 1 << 20

// Factory builds soap connectors.
type Factory struct{}

// Kind implements connectors.Factory.
func (Factory) Kind() string { return Kind }

// New implements connectors.Factory. It calls no service; it reads
// template_file (and the auth block's TLS files), which are local
// configuration.
func (Factory) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	text, name, err := cfg.loadTemplate()
	if err != nil {
		return nil, err
	}
	body, err := parseBodyTemplate(name, text, nil)
	if err != nil {
		return nil, err
	}
	if err := body.checkAtStart(); err != nil {
		return nil, err
	}
	client, err := auth.HTTPClient(cfg.Auth, spec.Concurrency, cfg.Timeout.D())
	if err != nil {
		return nil, err
	}

	u, _ := url.Parse(cfg.URL) // validated above
	c := &Connector{
		url:     cfg.URL,
		safeURL: u.Scheme + "://" + u.Host + u.EscapedPath(),
		ns:      NS11,
		body:    body,
		wsse:    cfg.WSSE,
		header:  staticHeader(cfg, cfg.Action),
		client:  client,
		timeout: cfg.Timeout.D(),
		secrets: cfg.secrets(),
		now:     time.Now,
	}
	if cfg.Version == Version12 {
		c.ns = NS12
	}
	if cfg.Read == nil {
		return c, nil
	}
	rd, err := newReader(cfg)
	if err != nil {
		return nil, err
	}
	return &Reader{Connector: c, read: rd}, nil
}

// staticHeader is every request's header but Idempotency-Key and trace
// context: User-Agent, the configured headers, and the version's
// Content-Type and the action.
func staticHeader(cfg Config, action string) http.Header {
	h := http.Header{}
	h.Set("User-Agent", "extsync")
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	if cfg.Version == Version12 {
		ct := "application/soap+xml; charset=utf-8"
		if action != "" {
			ct += `; action="` + action + `"`
		}
		h.Set("Content-Type", ct)
	} else {
		h.Set("Content-Type", "text/xml; charset=utf-8")
		// Always present in 1.1; "" means the intent is the request URI.
		h["SOAPAction"] = []string{`"` + action + `"`}
	}
	return h
}

// Connector posts SOAP envelopes to one service endpoint.
type Connector struct {
	url     string
	safeURL string // no query or user info: safe in error messages
	ns      string // envelope namespace: NS11 or NS12
	body    *bodyTemplate
	wsse    *WSSE
	header  http.Header
	client  *http.Client
	timeout time.Duration
	secrets []string
	// now gives wsu:Created and the reference for Retry-After dates.
	now func() time.Time
}

// Timeout implements connectors.Connector.
func (c *Connector) Timeout() time.Duration { return c.timeout }

// Close implements connectors.Connector.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Deliver implements connectors.Connector.
func (c *Connector) Deliver(ctx context.Context, d *connectors.Delivery) error {
	ctx, cancel := connectors.Bound(ctx, c.Timeout())
	defer cancel()
	if d.Event == nil {
		return connectors.PermanentError(0, errors.New("delivery without an event"))
	}
	id := d.Event.ID
	if err := checkID(id); err != nil {
		return connectors.PermanentError(0, err)
	}
	content, err := c.body.render(d.Body)
	if err != nil {
		return connectors.PermanentError(0, err)
	}
	header := c.header.Clone()
	header.Set("Idempotency-Key", id)
	resp, err := c.post(ctx, header, content)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	return c.outcome(resp)
}

// post sends one envelope with content as the Body; an error is
// classified.
func (c *Connector) post(ctx context.Context, header http.Header, content []byte) (*http.Response, error) {
	var token *usernameToken
	if c.wsse != nil {
		token = newUsernameToken(c.wsse, c.now())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(envelope(c.ns, token, content)))
	if err != nil {
		return nil, connectors.PermanentError(0, fmt.Errorf("build request to %s: %w", c.safeURL, connectors.HTTPCause(err)))
	}
	req.Header = header
	resp, err := c.client.Do(req)
	if err != nil {
		err = fmt.Errorf("POST %s: %w", c.safeURL, connectors.HTTPCause(err))
		if errors.Is(err, auth.ErrToken) {
			// Status stays 0: the service gave no answer, the token endpoint did.
			return nil, &connectors.DeliveryError{Class: auth.Classify(err), Err: err}
		}
		return nil, connectors.TransientError(0, err)
	}
	return resp, nil
}

// outcome classifies the response. A SOAP fault decides by its code,
// whatever the HTTP status (1.1 faults come with 500, 1.2 with 400 or
// 500, and some services send 200); without one, the HTTP status table
// decides.
func (c *Connector) outcome(resp *http.Response) error {
	head := &prefix{limit: maxReason}
	body := io.TeeReader(io.LimitReader(resp.Body, maxResponse), head)
	f := parseFault(body)
	class := connectors.HTTPClass(resp.StatusCode)
	if f == nil && class != 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxReason)) // fills head for the message
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused

	var err error
	if f != nil {
		class = f.Class()
		f.Code, f.Subcode, f.Reason = c.scrub(f.Code), c.scrub(f.Subcode), c.scrub(f.Reason)
		err = fmt.Errorf("POST %s: %s", c.safeURL, f)
	} else {
		if class == 0 {
			return nil
		}
		err = fmt.Errorf("POST %s: %s", c.safeURL, resp.Status)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			err = fmt.Errorf("%w (redirects are not followed: set url to the final address)", err)
		}
		if s := oneLine(c.scrub(string(head.buf)), maxReason); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
	}
	de := &connectors.DeliveryError{Class: class, Status: resp.StatusCode, Err: err}
	if class == connectors.Transient {
		de.RetryAfter = connectors.RetryAfter(resp.Header, c.now())
	}
	return de
}

// scrub cuts configured secrets out of text from the service, in case it
// echoes the request (with its UsernameToken) in a fault.
func (c *Connector) scrub(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
		var esc strings.Builder
		_ = xml.EscapeText(&esc, []byte(secret))
		s = strings.ReplaceAll(s, esc.String(), "[redacted]")
	}
	return s
}

// checkID makes sure the event id can travel as Idempotency-Key.
func checkID(id string) error {
	if id == "" {
		return errors.New("the event has no id to send as Idempotency-Key")
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return fmt.Errorf("event id %q cannot be sent as a header (control character)", id)
		}
	}
	return nil
}

// prefix keeps the first limit bytes written to it.
type prefix struct {
	buf   []byte
	limit int
}

func (p *prefix) Write(b []byte) (int, error) {
	if room := p.limit - len(p.buf); room > 0 {
		p.buf = append(p.buf, b[:min(len(b), room)]...)
	}
	return len(b), nil
}
