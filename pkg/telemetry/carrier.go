package telemetry

import (
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts NATS headers (or any map[string][]string) for
// propagation. Unlike propagation.HeaderCarrier it matches names
// case-insensitively without canonicalising them: NATS headers are
// case-sensitive, and a producer may write "traceparent" or "Traceparent".
type HeaderCarrier map[string][]string

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key, whatever its case.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces key (in any case) with value, written in lower case as
// the W3C spec names it.
func (c HeaderCarrier) Set(key, value string) {
	for k := range c {
		if strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[strings.ToLower(key)] = []string{value}
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Propagator is W3C trace context plus baggage. extsync uses it directly
// rather than the global one, so traceparent flows through NATS and on to
// external systems even when no OpenTelemetry SDK is set up.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
