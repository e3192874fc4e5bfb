package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
)

// Fetch implements connectors.Remote: GET on the event's URL (or as
// http.read says), for the overwrite and merge conflict rules and for
// verify. A 404 is an empty record.
func (c *Connector) Fetch(ctx context.Context, d *connectors.Delivery) (map[string]any, string, error) {
	ctx, cancel := connectors.Bound(ctx, c.Timeout())
	defer cancel()
	tmpl, method := c.reader()
	target, err := tmpl.expand(d.Event.Data)
	if err != nil {
		return nil, "", err
	}
	var payload io.Reader
	if method == http.MethodPost {
		b, err := json.Marshal(d.Body)
		if err != nil {
			return nil, "", connectors.PermanentError(0, fmt.Errorf("encode body: %w", err))
		}
		payload = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, payload)
	if err != nil {
		return nil, "", connectors.PermanentError(0, fmt.Errorf("build request: %w", err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if payload == nil {
		req.Header.Del("Content-Type")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", &connectors.DeliveryError{Class: auth.Classify(err),
			Err: fmt.Errorf("%s %s: %w", method, connectors.SafeURL(req.URL), connectors.HTTPCause(err))}
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return map[string]any{}, "", nil
	}
	if connectors.HTTPClass(resp.StatusCode) != 0 {
		return nil, "", c.outcome(req, resp)
	}
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return nil, "", connectors.PermanentError(resp.StatusCode, fmt.Errorf("%s %s: the record is not a JSON object: %w",
			method, connectors.SafeURL(req.URL), err))
	}
	return body, resp.Header.Get("ETag"), nil
}
