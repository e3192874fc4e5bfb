package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/hms/extsync/pkg/telemetry"
)

// recordSpans installs an SDK provider whose spans the test can read.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

func attrsOf(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestTransportSendsItsClientSpanAsTraceparent(t *testing.T) {
	rec := recordSpans(t)
	var mu sync.Mutex
	var got []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("traceparent"))
		mu.Unlock()
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer sink.Close()
	client := &http.Client{Transport: telemetry.Transport(http.DefaultTransport)}

	ctx, parent := otel.Tracer("test").Start(context.Background(), "process")
	u, err := url.Parse(sink.URL + "/cases/c-1?token=never-in-spans")
	require.NoError(t, err)
	u.User = url.UserPassword("user", "never-in-spans")
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), nil)
	require.NoError(t, err)
	req.Header.Set("traceparent", "00-00000000000000000000000000000001-0000000000000001-01")
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	busy, err := http.NewRequestWithContext(ctx, http.MethodPost, sink.URL+"/busy", nil)
	require.NoError(t, err)
	resp, err = client.Do(busy)
	require.NoError(t, err)
	_ = resp.Body.Close()
	parent.End()

	spans := rec.Ended()
	require.Len(t, spans, 3)
	put, post := spans[0], spans[1]
	require.Equal(t, "HTTP PUT", put.Name())
	require.Equal(t, trace.SpanKindClient, put.SpanKind())
	require.Equal(t, parent.SpanContext().SpanID(), put.Parent().SpanID(), "child of the caller's span")
	a := attrsOf(put)
	require.Equal(t, "PUT", a[telemetry.HTTPRequestMethod].AsString())
	require.Equal(t, sink.URL+"/cases/c-1", a[telemetry.URLFull].AsString(), "no user info, no query")
	require.Equal(t, "127.0.0.1", a[telemetry.ServerAddress].AsString())
	require.Equal(t, int64(http.StatusOK), a[telemetry.HTTPResponseStatus].AsInt64())
	require.NotZero(t, a[telemetry.ServerPort].AsInt64())
	require.Equal(t, codes.Unset, put.Status().Code)

	require.Equal(t, "HTTP POST", post.Name())
	require.Equal(t, codes.Error, post.Status().Code, "a 503 is a failed client call")
	require.Equal(t, "503", attrsOf(post)[telemetry.ErrorType].AsString())

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, "00-"+put.SpanContext().TraceID().String()+"-"+put.SpanContext().SpanID().String()+"-01", got[0],
		"the system receives the client span's context, replacing the caller's")
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

func TestTransportMarksFailedCalls(t *testing.T) {
	rec := recordSpans(t)
	client := &http.Client{Transport: telemetry.Transport(failing{})}
	req, err := http.NewRequest(http.MethodPut, "https://court.example/cases/1", nil)
	require.NoError(t, err)
	_, err = client.Do(req)
	require.Error(t, err)
	spans := rec.Ended()
	require.Len(t, spans, 1)
	require.Equal(t, codes.Error, spans[0].Status().Code)
	require.Contains(t, spans[0].Status().Description, "connection refused")
	a := attrsOf(spans[0])
	require.Equal(t, int64(443), a[telemetry.ServerPort].AsInt64(), "the scheme's port")
	require.Equal(t, "transport", a[telemetry.ErrorType].AsString())
}
