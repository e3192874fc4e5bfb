package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/synclog"
)

// The overview lists connectors in trouble first and in words, and
// charts the last day's attempts from the sync log.
func TestOverviewShowsTroubleFirstAndTheDaysActivity(t *testing.T) {
	f := newFixture(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := synclog.NewWriter(f.js)
	now := time.Now().UTC()
	for i, outcome := range []string{"delivered", "delivered", "delivered", "retry", "dead-lettered", "admin"} {
		require.NoError(t, w.Append(ctx, &synclog.Record{Time: now.Add(-time.Duration(i) * time.Hour), Connector: "court",
			EventID: "e", Outcome: outcome}))
	}
	require.NoError(t, w.Append(ctx, &synclog.Record{Time: now.Add(-30 * time.Hour), Connector: "court", Outcome: "delivered"}))

	b := f.browser(t)
	_, body := b.get("/")
	court, clinic := indexOf(body, `data-connector="court"`), indexOf(body, `data-connector="clinic"`)
	require.Positive(t, court)
	require.Less(t, court, clinic, "the degraded connector comes first")
	require.Contains(t, body, `<span class="badge bad" title="every attempt has failed since`)
	require.Contains(t, body, ">breaker open<")
	require.Contains(t, body, "1 in trouble")
	require.Contains(t, body, "HTTP 503 from court")
	require.Contains(t, body, "Attempts per hour: 3 delivered, 1 retried, 1 dead-lettered",
		"a day back only; admin records are not attempts")
	require.Contains(t, body, `<rect x=`)
	require.Contains(t, body, `aria-label="last hour: 1 delivered, 0 retried, 0 dead-lettered"`,
		"each connector's last hour, in its row")
	require.Equal(t, 1, strings.Count(body, `class="spark"`), "clinic had no attempt in the last hour")
	for _, want := range []string{">breaker half-open<", ">registry error<", "${CLINIC_KEY} is not set",
		"40.0/s (share 20.0/s, 2 replicas)", "2030-01-02 03:00:00Z", "12 waiting"} {
		require.Contains(t, body, want)
	}
}

func indexOf(s, sub string) int { return strings.Index(s, sub) }
