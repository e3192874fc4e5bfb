package test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// otlpReceiver is the collector's OTLP trace service over real gRPC.
type otlpReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *otlpReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) byName(prefix string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if strings.HasPrefix(s.Name, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func otelStartReceiver(t *testing.T) (*otlpReceiver, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	rcv := &otlpReceiver{}
	collectortrace.RegisterTraceServiceServer(srv, rcv)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return rcv, ln.Addr().String()
}

func otelAttrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		v := kv.Value
		switch {
		case v.GetStringValue() != "":
			m[kv.Key] = v.GetStringValue()
		default:
			m[kv.Key] = fmt.Sprint(v.GetIntValue())
		}
	}
	return m
}

func TestOneTraceFromPublishToTheExternalSystem(t *testing.T) {
	rcv, addr := otelStartReceiver(t)
	var mu sync.Mutex
	var traceparents []string
	calls := 0
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(sink.Close)
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    retry: {initial: 100ms}
    http:
      url: "%s/workflows/{id}"
      auth: {bearer: "${OTEL_TEST_TOKEN}"}
`, sink.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "OTEL_TEST_TOKEN=tok-never-in-spans",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+addr, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_METRICS_EXPORTER=none")
	var logs lockedBuffer
	env = append(env, "EXTSYNC_LOG_LEVEL=debug", "EXTSYNC_LOG_FORMAT=json")
	serve := killStartTo(t, env, &logs)
	res := binRun(t, env[2:], "publish", "hms.workflow.updated", `{"id":"wf-1","name":"Attorney Rotation"}`, "--id", "evt-otel-1")
	require.Equal(t, 0, res.code, res.stderr)

	require.Eventually(t, func() bool {
		return len(rcv.byName("send ")) == 1 && len(rcv.byName("process ")) == 2 && len(rcv.byName("HTTP PUT")) == 2
	}, 20*time.Second, 20*time.Millisecond, "spans exported: %v", otelNames(rcv))
	otelCheckMetrics(t, "http://"+envValue(env, "EXTSYNC_HTTP_ADDR="))
	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	require.Contains(t, logs.String(), `"trace_id":"`, "delivery log records carry the trace id")
	require.NotContains(t, logs.String(), "tok-never-in-spans", "the token leaked into the log")

	producer := rcv.byName("send ")[0]
	require.Equal(t, "send hms.workflow.updated", producer.Name)
	require.Equal(t, tracepb.Span_SPAN_KIND_PRODUCER, producer.Kind)
	traceID := producer.TraceId
	consumers := rcv.byName("process ")
	clients := rcv.byName("HTTP PUT")
	outcomes := map[string]bool{}
	consumerIDs := map[string]bool{}
	for _, c := range consumers {
		require.Equal(t, "process hms.workflow.updated", c.Name)
		require.Equal(t, tracepb.Span_SPAN_KIND_CONSUMER, c.Kind)
		require.Equal(t, traceID, c.TraceId, "one trace")
		require.Equal(t, producer.SpanId, c.ParentSpanId, "consumer is the producer's child")
		a := otelAttrs(c)
		require.Equal(t, "nats", a["messaging.system"])
		require.Equal(t, "process", a["messaging.operation.type"])
		require.Equal(t, "hms.workflow.updated", a["messaging.destination.name"])
		require.Equal(t, "extsync-court", a["messaging.consumer.group.name"])
		require.Equal(t, "evt-otel-1", a["messaging.message.id"])
		require.Equal(t, "court", a["extsync.connector"])
		outcomes[a["extsync.attempt"]+":"+a["extsync.outcome"]] = true
		consumerIDs[hex.EncodeToString(c.SpanId)] = true
		if a["extsync.outcome"] == "retry" {
			require.Equal(t, tracepb.Status_STATUS_CODE_ERROR, c.Status.Code)
		}
	}
	require.Equal(t, map[string]bool{"1:retry": true, "2:delivered": true}, outcomes)
	for _, c := range clients {
		require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, c.Kind)
		require.Equal(t, traceID, c.TraceId)
		require.True(t, consumerIDs[hex.EncodeToString(c.ParentSpanId)], "client span under a consumer span")
	}
	mu.Lock()
	for _, tp := range traceparents {
		require.Contains(t, tp, hex.EncodeToString(traceID), "the external system got the trace context")
	}
	mu.Unlock()
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, s := range rcv.spans {
		for _, kv := range s.Attributes {
			require.NotContains(t, kv.Value.String(), "tok-never-in-spans", "secret in attribute %s", kv.Key)
		}
	}
}

// otelCheckMetrics scrapes /metrics and parses it as Prometheus text:
// one retry and one delivery were counted and timed, and no label holds
// the token.
func otelCheckMetrics(t *testing.T, admin string) {
	t.Helper()
	body, code := serveGet(t, admin+"/metrics")
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	counts := map[string]float64{}
	for _, m := range families["extsync_deliveries_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		require.Equal(t, "court", labels["extsync_connector"])
		counts[labels["extsync_outcome"]] = m.GetCounter().GetValue()
	}
	require.Equal(t, map[string]float64{"retry": 1, "delivered": 1}, counts)
	var observed, underASecond uint64
	for _, m := range families["extsync_delivery_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		observed += h.GetSampleCount()
		underASecond += cumulativeCountUpTo(h, 1)
	}
	require.Equal(t, uint64(2), observed, "both attempts timed")
	require.Equal(t, uint64(2), underASecond,
		"buckets below a second: both attempts of a local system are told apart from slow ones")
	require.Len(t, families["extsync_end_to_end_latency_seconds"].GetMetric(), 1)
	ordering := families["extsync_ordering_state"].GetMetric()
	require.Len(t, ordering, 1)
	require.Equal(t, 1.0, ordering[0].GetGauge().GetValue(), "the only instance sends alone")
	require.NotContains(t, body, "tok-never-in-spans")
}

func otelNames(r *otlpReceiver) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.spans {
		out = append(out, s.Name)
	}
	return out
}

// cumulativeCountUpTo is how many observations fell in the histogram's
// buckets whose upper bound is at most limit.
func cumulativeCountUpTo(h *dto.Histogram, limit float64) uint64 {
	var n uint64
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() <= limit {
			n = b.GetCumulativeCount()
		}
	}
	return n
}
