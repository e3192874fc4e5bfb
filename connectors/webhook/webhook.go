package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/pkg/event"
)

// Kind is the connectors-file kind this package serves.
const Kind = "webhook"

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// maxErrorBody bounds how much of an error response is kept as the reason.
const maxErrorBody = 512

// Factory builds webhook connectors.
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
	keys, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	client, err := auth.HTTPClient(cfg.Auth, spec.Concurrency, cfg.Timeout.D())
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.URL) // validated above
	contentType := "application/json"
	if cfg.Body == BodyCloudEvent {
		// The CloudEvents HTTP binding's structured mode.
		contentType = "application/cloudevents+json"
	}
	return &Connector{
		url:         cfg.URL,
		safeURL:     u.Scheme + "://" + u.Host + u.EscapedPath(),
		cloudEvent:  cfg.Body == BodyCloudEvent,
		contentType: contentType,
		keys:        keys,
		header:      staticHeader(cfg),
		client:      client,
		timeout:     cfg.Timeout.D(),
		now:         time.Now,
	}, nil
}

func staticHeader(cfg Config) http.Header {
	h := http.Header{}
	h.Set("User-Agent", "extsync")
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	return h
}

// Connector POSTs signed events to one webhook receiver.
type Connector struct {
	url         string
	safeURL     string // no query or user info: safe in error messages
	cloudEvent  bool
	contentType string
	keys        [][]byte
	header      http.Header
	client      *http.Client
	timeout     time.Duration
	// now gives webhook-timestamp and the reference for Retry-After dates;
	// tests replace it.
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
	id := d.Event.ID
	if err := checkID(id); err != nil {
		return connectors.PermanentError(0, err)
	}
	body, err := c.encode(d)
	if err != nil {
		return connectors.PermanentError(0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return connectors.PermanentError(0, fmt.Errorf("build request to %s: %w", c.safeURL, connectors.HTTPCause(err)))
	}
	req.Header = c.header.Clone()
	now := c.now()
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, c.sign(id, now, body))
	req.Header.Set("Idempotency-Key", id)
	req.Header.Set("Content-Type", c.contentType)
	resp, err := c.client.Do(req)
	if err != nil {
		// Network failures are transient; a refused OAuth2 client is not.
		return &connectors.DeliveryError{Class: auth.Classify(err), Err: fmt.Errorf("POST %s: %w", c.safeURL, connectors.HTTPCause(err))}
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	return c.outcome(resp)
}

// Delete implements connectors.Deleter: a webhook receiver gets a
// deletion as it gets any event, a POST of the event as it is, which
// says what happened (its data, or with body: cloudevent its type).
func (c *Connector) Delete(ctx context.Context, d *connectors.Delivery) error {
	return c.Deliver(ctx, d)
}

// sign returns the webhook-signature value: one "v1,<base64 HMAC-SHA256>"
// of "id.timestamp.body" per key, space-separated.
func (c *Connector) sign(id string, at time.Time, body []byte) string {
	sigs := make([]string, len(c.keys))
	for i, key := range c.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write(strconv.AppendInt(nil, at.Unix(), 10))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

func (c *Connector) outcome(resp *http.Response) error {
	class := connectors.HTTPClass(resp.StatusCode)
	if class == 0 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	err := fmt.Errorf("POST %s: %s", c.safeURL, resp.Status)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		err = fmt.Errorf("%w (redirects are not followed: set url to the final address)", err)
	}
	if s := strings.TrimSpace(string(snippet)); s != "" {
		err = fmt.Errorf("%w: %s", err, s)
	}
	return &connectors.DeliveryError{
		Class:      class,
		Status:     resp.StatusCode,
		RetryAfter: connectors.RetryAfter(resp.Header, c.now()),
		Err:        err,
	}
}

// checkID makes sure the event id can travel as webhook-id.
func checkID(id string) error {
	if id == "" {
		return errors.New("the event has no id to send as webhook-id")
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return fmt.Errorf("event id %q cannot be sent as a header (control character)", id)
		}
	}
	return nil
}

// encode returns the request body: the mapped data, or a structured
// CloudEvent carrying it.
func (c *Connector) encode(d *connectors.Delivery) ([]byte, error) {
	if d.JSON != nil && !c.cloudEvent {
		return d.JSON, nil
	}
	data := d.Body
	if data == nil {
		data = map[string]any{}
	}
	var v any = data
	if c.cloudEvent {
		v = newCloudEvent(d.Event, data)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return body, nil
}

// cloudEvent is a CloudEvents 1.0 event in the structured JSON format.
type cloudEvent struct {
	SpecVersion     string         `json:"specversion"`
	ID              string         `json:"id"`
	Source          string         `json:"source"`
	Type            string         `json:"type"`
	Subject         string         `json:"subject,omitempty"`
	Time            string         `json:"time,omitempty"`
	DataContentType string         `json:"datacontenttype"`
	EntityVersion   string         `json:"entityversion,omitempty"`
	Data            map[string]any `json:"data"`
}

func newCloudEvent(ev *event.Event, data map[string]any) cloudEvent {
	ce := cloudEvent{
		SpecVersion:     "1.0",
		ID:              ev.ID,
		Source:          sourceOf(ev),
		Type:            ev.Type,
		Subject:         ev.Key,
		DataContentType: "application/json",
		EntityVersion:   ev.Version,
		Data:            data,
	}
	if ce.Type == "" {
		ce.Type = ev.Subject
	}
	if ce.Type == "" {
		ce.Type = "hms.event"
	}
	if !ev.Time.IsZero() {
		ce.Time = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	return ce
}

// sourceOf is the event's CloudEvent source; a plain JSON event has none,
// so it gets the publishing module's name the way pkg/publish spells it:
// hms.workflow.updated comes from "hms/workflow".
func sourceOf(ev *event.Event) string {
	if ev.Source != "" {
		return ev.Source
	}
	if parts := strings.Split(ev.Subject, "."); len(parts) >= 2 && parts[0] != "" && parts[1] != "" {
		return parts[0] + "/" + parts[1]
	}
	if ev.Subject != "" {
		return ev.Subject
	}
	return "extsync"
}
