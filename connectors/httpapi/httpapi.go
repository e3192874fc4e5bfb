package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/pkg/config"
)

// Kind is the connectors-file kind this package serves.
const Kind = "http"

// maxErrorBody bounds how much of an error response is kept as the reason.
const maxErrorBody = 512

// Factory builds http connectors.
type Factory struct{}

// Kind implements connectors.Factory.
func (Factory) Kind() string { return Kind }

// New implements connectors.Factory; it does no I/O.
func (Factory) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg Config
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if spec.Batch && cfg.Bulk == nil {
		return nil, errNoBulk
	}
	tmpl, _ := parseTemplate(cfg.URL) // validated above
	client, err := auth.HTTPClient(cfg.Auth, spec.Concurrency, cfg.Timeout.D())
	if err != nil {
		return nil, err
	}
	match, _ := parseMatch(cfg.ConflictMatch) // validated above
	c := &Connector{name: spec.Name, cfg: cfg, url: tmpl, header: staticHeader(cfg), client: client,
		conflictMatch: match}
	if cfg.Read != nil {
		c.read, _ = parseTemplate(cfg.Read.URL) // validated above
	}
	if cfg.Delete != nil && cfg.Delete.URL != "" {
		c.del, _ = parseTemplate(cfg.Delete.URL) // validated above
	}
	return c, nil
}

func staticHeader(cfg Config) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "extsync")
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	return h
}

// Connector sends events to one HTTP API.
type Connector struct {
	name   string
	cfg    Config
	url    *template
	read   *template // http.read.url; nil: read from url
	del    *template // http.delete.url; nil: delete at url
	header http.Header
	client *http.Client
	// conflictMatch classifies other refusals as conflicts by their body.
	conflictMatch *config.Condition
}

// Timeout implements connectors.Connector.
func (c *Connector) Timeout() time.Duration { return c.cfg.Timeout.D() }

// Close implements connectors.Connector.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// Deliver implements connectors.Connector.
func (c *Connector) Deliver(ctx context.Context, d *connectors.Delivery) error {
	body, err := c.body(d)
	if err != nil {
		return err
	}
	return c.send(ctx, d, c.cfg.Method, c.url, body, d.IfMatch)
}

// body is the mapped record as JSON.
func (c *Connector) body(d *connectors.Delivery) ([]byte, error) {
	if d.JSON != nil {
		return d.JSON, nil
	}
	b, err := json.Marshal(d.Body)
	if err != nil {
		return nil, connectors.PermanentError(0, fmt.Errorf("encode body: %w", err))
	}
	return b, nil
}

// send makes one request for d to tmpl filled from the event's data;
// body nil sends none.
func (c *Connector) send(ctx context.Context, d *connectors.Delivery, method string, tmpl *template, body []byte, ifMatch string) error {
	ctx, cancel := connectors.Bound(ctx, c.Timeout())
	defer cancel()
	// net/http would refuse it too, but as a transport error: transient,
	// retried in vain until the attempts run out.
	if !httpguts.ValidHeaderFieldValue(d.Event.ID) {
		return connectors.PermanentError(0, fmt.Errorf("event id %q cannot be sent as the Idempotency-Key header", d.Event.ID))
	}
	target, err := tmpl.expand(d.Event.Data)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return connectors.PermanentError(0, fmt.Errorf("build request: %w", err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body == nil {
		req.Header.Del("Content-Type")
	}
	req.Header.Set("Idempotency-Key", d.Event.ID)
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// Network failures are transient; a refused OAuth2 client is not.
		return &connectors.DeliveryError{Class: auth.Classify(err),
			Err: fmt.Errorf("%s %s: %w", method, connectors.SafeURL(req.URL), connectors.HTTPCause(err))}
	}
	defer resp.Body.Close()
	d.ETag, d.Status = resp.Header.Get("ETag"), resp.StatusCode
	return c.outcome(req, resp)
}

func (c *Connector) outcome(req *http.Request, resp *http.Response) error {
	class := connectors.HTTPClass(resp.StatusCode)
	if class == 0 {
		if resp.Body != http.NoBody { // an empty answer (Content-Length: 0) has nothing to drain
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		}
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if class == connectors.Permanent && c.conflictMatch.MatchJSON(body) {
		class = connectors.Conflict // e.g. a 422 saying OVERLAPPING_ASSIGNMENT
	}
	snippet := body[:min(len(body), maxErrorBody)]
	err := fmt.Errorf("%s %s: %s", req.Method, connectors.SafeURL(req.URL), resp.Status)
	if s := strings.TrimSpace(string(snippet)); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	return &connectors.DeliveryError{
		Class:      class,
		Status:     resp.StatusCode,
		RetryAfter: connectors.RetryAfter(resp.Header, time.Now()),
		Err:        err,
	}
}
