package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
)

// parkMany stores n dead letters of connector court quickly, with the
// headers Parker sets, publishing asynchronously.
func parkMany(b testing.TB, f *fixture, n int) {
	b.Helper()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range n {
		m := nats.NewMsg(deadletter.SubjectPrefix + "court")
		m.Data = []byte(`{"id":"wf-` + strconv.Itoa(i) + `","courtroom":"4B"}`)
		h := m.Header
		h.Set(deadletter.HeaderConnector, "court")
		h.Set(deadletter.HeaderSubject, "hms.workflow.updated")
		h.Set(deadletter.HeaderStream, "HMS_EVENTS")
		h.Set(deadletter.HeaderStreamSeq, strconv.Itoa(i+1))
		h.Set(deadletter.HeaderEventID, fmt.Sprintf("ev-%d", i))
		h.Set(deadletter.HeaderAttempts, "1")
		h.Set(deadletter.HeaderError, "permanent (status 422): unknown courtroom")
		h.Set(deadletter.HeaderStatus, "permanent")
		h.Set(deadletter.HeaderFirstAttempt, now)
		h.Set(deadletter.HeaderLastAttempt, now)
		if _, err := f.js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		b.Fatal("dead letters not stored in 2 minutes")
	}
}

// The first page of the dead letters, 50 rows, with 100,000 parked:
// paging reads as far as the page needs, not the whole stream.
func BenchmarkDeadLetterFirstPage(b *testing.B) {
	f := newFixture(b, "", "")
	parkMany(b, f, 100_000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	depth, err := deadletter.Depth(ctx, f.js)
	require.NoError(b, err)
	require.Equal(b, uint64(100_000), depth["court"])
	client := &http.Client{Timeout: 30 * time.Second}
	var size int64
	for b.Loop() {
		resp, err := client.Get(f.base + "/dlq?connector=court")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		size = n
	}
	b.ReportMetric(float64(size), "page-bytes")
}

// The overview ships HTML, one stylesheet and one script, and nothing
// else; its weight stays small (the figure is in docs/console.md).
func TestOverviewWeight(t *testing.T) {
	f := newFixture(t, "", "")
	b := f.browser(t)
	total := 0
	for _, p := range []string{"/", "/static/console.css", "/static/console.js"} {
		resp, body := b.get(p)
		require.Equal(t, http.StatusOK, resp.StatusCode, p)
		t.Logf("%-22s %6d bytes", p, len(body))
		total += len(body)
	}
	t.Logf("overview total         %6d bytes (two connectors, uncompressed)", total)
	require.Less(t, total, 24<<10)
}
