package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hms/extsync/pkg/event"
)

// benchData is a workflow's data padded so the whole message is 512 bytes.
func benchData(tb testing.TB, overhead int) json.RawMessage {
	tb.Helper()
	base := `{"id":"wf-1042","name":"Attorney Rotation","status":"approved","version":7,` +
		`"assignment":{"judge":{"name":"Okafor","id":3},"room":"4B"},"tags":["urgent","court"],"note":""}`
	pad := 512 - overhead - len(base)
	if pad < 0 {
		tb.Fatalf("event over 512 bytes by %d", -pad)
	}
	return json.RawMessage(strings.Replace(base, `"note":""`, `"note":"`+strings.Repeat("x", pad)+`"`, 1))
}

func benchMessage(body []byte, header map[string][]string) event.Message {
	return event.Message{
		Subject: "hms.workflow.updated", Stream: "HMS_EVENTS", Seq: 1042,
		Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC), Header: header, Body: body,
	}
}

func benchDecode(b *testing.B, m event.Message) {
	if len(m.Body) != 512 {
		b.Fatalf("body is %d bytes, want 512", len(m.Body))
	}
	opt := event.Options{KeyPath: "id", VersionPath: "version"}
	b.SetBytes(int64(len(m.Body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Decode(m, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePlain decodes a 512-byte plain JSON event, as `nats pub`
// sends it (Nats-Msg-Id header, no CloudEvent).
func BenchmarkDecodePlain(b *testing.B) {
	benchDecode(b, benchMessage(benchData(b, 0), map[string][]string{"Nats-Msg-Id": {"evt-1042"}}))
}

// BenchmarkDecodeCloudEvent decodes a 512-byte structured CloudEvent, as
// pkg/publish sends it.
func BenchmarkDecodeCloudEvent(b *testing.B) {
	envelope := func(data json.RawMessage) []byte {
		body, err := json.Marshal(map[string]any{
			"specversion": "1.0", "id": "0199a3c2-7d7e-7c1a-9f4e-3b1f2a6c9d10", "source": "hms/policy",
			"type": "hms.workflow.updated", "subject": "wf-1042", "time": "2025-03-01T12:00:00.123456Z",
			"datacontenttype": "application/json", "entityversion": "7", "data": data,
		})
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	overhead := len(envelope(json.RawMessage(`{}`))) - 2
	header := map[string][]string{
		"Nats-Msg-Id":  {"0199a3c2-7d7e-7c1a-9f4e-3b1f2a6c9d10"},
		"Content-Type": {"application/cloudevents+json"},
		"traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	}
	benchDecode(b, benchMessage(envelope(benchData(b, overhead)), header))
}
