package telemetry

import (
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HTTP client attribute keys (OTel HTTP semantic conventions).
const (
	HTTPRequestMethod  = attribute.Key("http.request.method")
	HTTPResponseStatus = attribute.Key("http.response.status_code")
	URLFull            = attribute.Key("url.full")
	ServerAddress      = attribute.Key("server.address")
	ServerPort         = attribute.Key("server.port")
)

// Transport wraps next with a CLIENT span per request and puts that
// span's context in the request's traceparent. It stands in for otelhttp's
// transport, whose per-request work (metric attribute sets, body wrappers,
// semconv duplication) would weigh on every delivery and duplicate
// extsync's own delivery metrics, which already time each attempt by
// connector and outcome.
//
// The span covers sending the request and receiving the response's
// headers; connectors read the (small) body inside the attempt's span.
//
// Unlike most RoundTrippers, it sets the trace headers on the request it
// is given rather than on a copy: it is for clients whose callers build
// each request for one call and do not reuse it (every extsync connector,
// through auth.HTTPClient, which also forbids redirects), so a delivery
// does not allocate a copy of the request and a clone of its header map.
// The request keeps its own context, so what next does below this span
// (an OAuth2 token fetch) is its sibling.
func Transport(next http.RoundTripper) http.RoundTripper {
	return &tracedTransport{next: next, tracer: otel.Tracer("github.com/hms/extsync/pkg/telemetry")}
}

type tracedTransport struct {
	next   http.RoundTripper
	tracer trace.Tracer
}

func (t *tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := t.tracer.Start(req.Context(), spanName(req.Method), clientKind)
	if span.IsRecording() { // an id-only span keeps none: skip building them
		span.SetAttributes(requestAttrs(req)...)
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		span.SetAttributes(ErrorType.String("transport"))
		span.SetStatus(codes.Error, err.Error())
	default:
		span.SetAttributes(HTTPResponseStatus.Int(resp.StatusCode))
		if resp.StatusCode >= 400 { // a client span's error: the request did not succeed
			span.SetAttributes(ErrorType.String(strconv.Itoa(resp.StatusCode)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
	return resp, err
}

var clientKind = trace.WithSpanKind(trace.SpanKindClient)

// spanName is "HTTP <method>", without building a string for the common
// methods.
func spanName(method string) string {
	switch method {
	case http.MethodPut:
		return "HTTP PUT"
	case http.MethodPost:
		return "HTTP POST"
	case http.MethodGet:
		return "HTTP GET"
	case http.MethodPatch:
		return "HTTP PATCH"
	case http.MethodDelete:
		return "HTTP DELETE"
	}
	return "HTTP " + method
}

// requestAttrs names the method and where the request goes. url.full
// leaves out user info and the query, where credentials are sometimes
// passed.
func requestAttrs(req *http.Request) []attribute.KeyValue {
	u := req.URL
	full := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	attrs := []attribute.KeyValue{HTTPRequestMethod.String(req.Method), URLFull.String(full),
		ServerAddress.String(u.Hostname()), {}}
	port, err := strconv.Atoi(u.Port())
	if err != nil { // no port in the URL: the scheme's
		port = 80
		if u.Scheme == "https" {
			port = 443
		}
	}
	attrs[3] = ServerPort.Int(port)
	return attrs
}
