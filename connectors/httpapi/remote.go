package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
)

// Fetch implements connectors.Remote: GET on the event's URL, for the
// overwrite and merge conflict rules. A 404 is an empty record.
func (c *Connector) Fetch(ctx context.Context, d *connectors.Delivery) (map[string]any, string, error) {
	ctx, cancel := connectors.Bound(ctx, c.Timeout())
	defer cancel()
	target, err := c.url.expand(d.Event.Data)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, "", connectors.PermanentError(0, fmt.Errorf("build request: %w", err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Del("Content-Type")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", &connectors.DeliveryError{Class: auth.Classify(err),
			Err: fmt.Errorf("GET %s: %w", connectors.SafeURL(req.URL), connectors.HTTPCause(err))}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return map[string]any{}, "", nil
	}
	if connectors.HTTPClass(resp.StatusCode) != 0 {
		return nil, "", c.outcome(req, resp)
	}
	var body map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return nil, "", connectors.PermanentError(resp.StatusCode, fmt.Errorf("GET %s: the record is not a JSON object: %w",
			connectors.SafeURL(req.URL), err))
	}
	return body, resp.Header.Get("ETag"), nil
}
