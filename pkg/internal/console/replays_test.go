package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/deadletter"
)

var replayCount = regexp.MustCompile(`id="replay-(state|selected|sent|failed|remaining)">([^<]*)<`)

// replayConsumer makes connector look alive to a replay's checks.
func (f *fixture) replayConsumer(t *testing.T, connector string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-" + connector + "-replay", FilterSubject: deadletter.ReplaySubjectPrefix + connector,
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
}

// startReplay confirms a replay of connector's dead letters at rate and
// returns its progress page's path; the request that started it is over.
func (b *browser) startReplay(t *testing.T, connector, rate string) string {
	t.Helper()
	_, body := b.get("/dlq/confirm?action=replay&connector=" + connector)
	require.Contains(t, body, "would be replayed")
	resp, body := b.post("/dlq/replay", url.Values{"connector": {connector}, "rate": {rate}, "csrf": {b.csrf}}, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/dlq/replays/"), loc)
	b.c.CloseIdleConnections() // the starting request and its connection are gone
	return loc
}

// progress reads a progress page's state and counts.
func (b *browser) progress(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	resp, body := b.get(path)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	out := map[string]string{}
	for _, m := range replayCount.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out, body
}

// A replay runs in the background: the request that starts it redirects
// to its progress page at once; the page's counts move while it runs, it
// is listed on the dead-letter page, and it ends with every letter sent.
func TestReplayRunsInTheBackgroundWithProgress(t *testing.T) {
	f := newFixture(t, "", "")
	f.replayConsumer(t, "court")
	f.park(t, "court", 50)
	b := f.browser(t)
	loc := b.startReplay(t, "court", "20/s") // 50 letters take at least 2.45 s

	c, body := b.progress(t, loc)
	require.Equal(t, "running", c["state"], body)
	require.Contains(t, body, `data-refresh=`, "a running replay's page reloads itself")
	require.Contains(t, body, `data-swap="replay"`)
	require.Contains(t, body, `<noscript><meta http-equiv="refresh"`)
	require.NotContains(t, body, "<script>", "no inline script")
	_, list := b.get("/dlq")
	require.Contains(t, list, "Replays under way")
	require.Contains(t, list, `href="`+loc+`"`)

	seen := map[int]bool{}
	var last map[string]string
	require.Eventually(t, func() bool {
		last, body = b.progress(t, loc)
		if n, err := strconv.Atoi(last["sent"]); err == nil {
			seen[n] = true
		}
		if last["state"] == "running" && last["selected"] == "50" {
			sent, _ := strconv.Atoi(last["sent"])
			remaining, _ := strconv.Atoi(last["remaining"])
			require.Equal(t, 50, sent+remaining, "sent and remaining add up to the selection")
		}
		return last["state"] != "running"
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, map[string]string{"state": "done", "selected": "50", "sent": "50", "failed": "0", "remaining": "0"}, last, body)
	require.Contains(t, body, "Replayed 50 dead letters;")
	require.NotContains(t, body, "data-refresh=", "a finished replay's page stops reloading")
	moved := 0
	for n := range seen {
		if n > 0 && n < 50 {
			moved++
		}
	}
	require.GreaterOrEqual(t, moved, 2, "the sent count moves while the replay runs: %v", seen)

	_, list = b.get("/dlq")
	require.Contains(t, list, "Parked: 0")
	require.NotContains(t, list, "Replays under way")
	resp, _ := b.get("/dlq/replays/nosuchreplay")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Closing the console stops a replay under way: what was sent is settled,
// the rest stay parked, and no replay starts after it.
func TestConsoleCloseStopsReplays(t *testing.T) {
	f := newFixture(t, "", "")
	f.replayConsumer(t, "court")
	f.park(t, "court", 50)
	b := f.browser(t)
	loc := b.startReplay(t, "court", "10/s")
	require.Eventually(t, func() bool {
		c, _ := b.progress(t, loc)
		n, _ := strconv.Atoi(c["sent"])
		return n >= 2
	}, 20*time.Second, 50*time.Millisecond)
	f.con.Close()
	c, body := b.progress(t, loc)
	require.Equal(t, "failed", c["state"], body)
	require.Contains(t, body, "stopped: the console shut down")
	sent, _ := strconv.Atoi(c["sent"])
	failed, _ := strconv.Atoi(c["failed"])
	require.Less(t, sent, 50)
	require.Equal(t, 50, sent+failed)
	_, list := b.get("/dlq")
	require.Contains(t, list, "Parked: "+strconv.Itoa(failed), "what was not sent stays parked")

	b.get("/dlq/confirm?action=replay&connector=court")
	resp, body := b.post("/dlq/replay", url.Values{"connector": {"court"}, "csrf": {b.csrf}}, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
}
