package auth

import (
	"net/http"
	"time"

	"github.com/hms/extsync/pkg/telemetry"
)

// HTTPClient is the client every HTTP-based kind uses: a keep-alive
// transport with one idle connection per worker (steady traffic never pays
// for a new TCP or TLS handshake), the credentials of c, no redirects, and
// a client span per request whose context is the traceparent sent. It
// has no Timeout of its own: callers bound requests with their context.
func HTTPClient(c *Config, concurrency int, timeout time.Duration) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(concurrency, 2) * 2
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	t.IdleConnTimeout = 90 * time.Second
	client, err := c.NewClient(t, timeout)
	if err != nil {
		return nil, err
	}
	client.Transport = telemetry.Transport(client.Transport)
	// Each request is bounded by its context (connectors.Bound): a client
	// timeout on top would arm a second timer per request.
	client.Timeout = 0
	return client, nil
}
