package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// opsSink answers 503 while down, and records the Idempotency-Key of each
// request it accepts.
type opsSink struct {
	down     atomic.Bool
	mu       sync.Mutex
	accepted []string
}

func (s *opsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if s.down.Load() {
		http.Error(w, `{"error":"court system down for maintenance"}`, http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, r.Header.Get("Idempotency-Key"))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *opsSink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// opsCLI runs commands against one `extsync serve`.
type opsCLI struct {
	t   *testing.T
	env []string
}

func (c opsCLI) run(args ...string) binResult { return binRun(c.t, c.env, args...) }

// ok runs a command that must succeed and returns its stdout.
func (c opsCLI) ok(args ...string) string {
	c.t.Helper()
	res := c.run(args...)
	require.Equal(c.t, 0, res.code, "%v: %s", args, res.stderr)
	return res.stdout
}

// letters is `dlq ls --json` for a connector.
func (c opsCLI) letters(connector string) []map[string]any {
	var out []map[string]any
	require.NoError(c.t, json.Unmarshal([]byte(c.ok("dlq", "ls", "--connector", connector, "--json")), &out))
	return out
}

// story is `log --json` with filters, one record per line.
func (c opsCLI) story(filters ...string) []map[string]any {
	c.t.Helper()
	dec := json.NewDecoder(strings.NewReader(c.ok(append([]string{"log", "--json"}, filters...)...)))
	var out []map[string]any
	for dec.More() {
		var r map[string]any
		require.NoError(c.t, dec.Decode(&r))
		out = append(out, r)
	}
	return out
}

func outcomes(recs []map[string]any) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprint(r["outcome"])
	}
	return out
}

// TestOperatorRecoversDeadLetters is the night the court system was down:
// the operator lists what failed, replays too early (the letters come
// back, attempts carried on), replays once the system is back, and reads
// the story of one event in the sync log. The archive connector on the
// same subject sees each event once, never a replay.
func TestOperatorRecoversDeadLetters(t *testing.T) {
	court, archive := &opsSink{}, &opsSink{}
	courtSrv, archiveSrv := httptest.NewServer(court), httptest.NewServer(archive)
	t.Cleanup(courtSrv.Close)
	t.Cleanup(archiveSrv.Close)
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    retry: {max_attempts: 2, initial: 20ms, max: 50ms}
    http: {url: "%s/workflows/{id}"}
  - name: archive
    kind: http
    subjects: [hms.workflow.updated]
    http: {url: "%s/workflows/{id}"}
`, courtSrv.URL, archiveSrv.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf)
	serve := killStart(t, env)
	cli := opsCLI{t, env[2:]}

	court.down.Store(true)
	var ids []string
	for i := range 3 {
		out := cli.ok("publish", "hms.workflow.updated", fmt.Sprintf(`{"id":"wf-%d"}`, i))
		ids = append(ids, regexp.MustCompile(`published (\S+)`).FindStringSubmatch(out)[1])
	}
	require.Eventually(t, func() bool { return len(cli.letters("court")) == 3 }, 30*time.Second, 100*time.Millisecond)
	letter := cli.letters("court")[0]
	require.Equal(t, "exhausted", letter["status"])
	require.EqualValues(t, 2, letter["attempts"])
	require.Contains(t, letter["reason"], "503")
	require.Eventually(t, func() bool { return len(archive.keys()) == 3 }, 20*time.Second, 20*time.Millisecond)

	body, code := serveGet(t, "http://"+envValue(env, "EXTSYNC_HTTP_ADDR=")+"/api/v1/dlq?connector=court&status=exhausted")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, ids[2])

	require.Contains(t, cli.ok("dlq", "show", ids[1]), "court system down for maintenance")
	operatorMistakes(t, cli)
	require.Empty(t, court.keys(), "nothing was sent by the dry run or the errors")

	// Too early: the court is still down, so the letters come back with
	// every attempt counted.
	require.Contains(t, cli.ok("dlq", "replay", "--connector", "court"), "replayed 3 dead letters")
	require.Eventually(t, func() bool {
		ls := cli.letters("court")
		return len(ls) == 3 && ls[0]["attempts"] == float64(4) && ls[2]["attempts"] == float64(4)
	}, 30*time.Second, 100*time.Millisecond, "parked again after two more attempts each")

	court.down.Store(false)
	res := cli.run("dlq", "replay", "--connector", "court", "--rate", "100/s")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "replayed 3 dead letters")
	require.Contains(t, res.stderr, "replayed 3/3", "progress on stderr")
	require.Eventually(t, func() bool { return len(cli.story("--connector", "court", "--status", "delivered")) == 3 },
		30*time.Second, 100*time.Millisecond)
	require.ElementsMatch(t, ids, court.keys(), "each event once, its id still the Idempotency-Key")
	require.ElementsMatch(t, ids, archive.keys(), "the archive saw each event once and no replay")
	require.Equal(t, "[]\n", cli.ok("dlq", "ls", "--json"), "replayed dead letters are gone")

	story := cli.story("--event", ids[0], "--connector", "court")
	require.Equal(t, []string{"retry", "dead-lettered", "retry", "dead-lettered", "delivered"}, outcomes(story))
	last := story[len(story)-1]
	require.NotZero(t, last["replay_of"], "the delivery names the dead letter it replays")
	require.True(t, strings.HasPrefix(fmt.Sprint(last["actor"]), "cli:"), last["actor"])
	require.Contains(t, cli.ok("log", "--event", ids[0]), "replay of dead letter")
	require.Equal(t, 2, strings.Count(cli.ok("log", "--connector", "court", "--status", "admin"), "dlq replay of 3 by cli:"))

	replayIntoARemovedConnector(t, cli, court)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	res = cli.run("dlq", "ls")
	require.Equal(t, 1, res.code, "with nothing running, the command says where it looked")
	require.Contains(t, res.stderr, envValue(env, "EXTSYNC_NATS_LISTEN="))
	require.Contains(t, res.stderr, "is `extsync serve` running")
}

// operatorMistakes: each is refused with a message saying what to fix,
// exit 2 for bad arguments and 1 for an id that names nothing.
func operatorMistakes(t *testing.T, cli opsCLI) {
	t.Helper()
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"dlq", "ls", "--since", "yesterday"}, 2, `--since "yesterday": want a time such as`},
		{[]string{"dlq", "replay", "--connector", "court", "--until", "-2h"}, 2, "a duration means that long ago"},
		{[]string{"dlq", "replay", "--since", "1h", "--until", "2h"}, 2, "is before --since"},
		{[]string{"dlq", "replay"}, 2, "--all"},
		{[]string{"dlq", "purge"}, 2, "--all"},
		{[]string{"dlq", "replay", "--all", "--mapping", "yesterdays"}, 2, `--mapping "yesterdays": want original or current`},
		{[]string{"dlq", "replay", "--all", "--rate", "fast"}, 2, "--rate"},
		{[]string{"dlq", "ls", "--status", "sad"}, 2, "want permanent or exhausted"},
		{[]string{"log", "--since", "last week"}, 2, `--since "last week"`},
		{[]string{"dlq", "show", "no-such-event"}, 1, `no dead letter with id or sequence "no-such-event"`},
		{[]string{"dlq", "replay", "--id", "no-such-event"}, 1, `"no-such-event" matches; nothing was changed`},
		{[]string{"dlq", "purge", "--id", "no-such-event"}, 1, `"no-such-event" matches; nothing was changed`},
	} {
		res := cli.run(tc.args...)
		require.Equal(t, tc.code, res.code, "%v: %s", tc.args, res.stderr)
		require.Contains(t, res.stderr, tc.says, tc.args)
	}
	res := cli.run("dlq", "replay", "--connector", "court", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "would replay 3 dead letters")
	res = cli.run("dlq", "purge", "--connector", "court", "--dry-run", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var which []map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &which), "stdout stays JSON")
	require.Len(t, which, 3)
	require.Contains(t, res.stderr, "would purge 3 dead letters")
	require.Len(t, cli.letters("court"), 3, "nothing changed")
}

// replayIntoARemovedConnector: once court is removed from the connector store,
// its dead letters cannot be replayed (no one would take them), and
// nothing changes.
func replayIntoARemovedConnector(t *testing.T, cli opsCLI, court *opsSink) {
	t.Helper()
	court.down.Store(true)
	cli.ok("publish", "hms.workflow.updated", `{"id":"wf-9"}`)
	require.Eventually(t, func() bool { return len(cli.letters("court")) == 1 }, 30*time.Second, 100*time.Millisecond)
	cli.ok("connectors", "rm", "court")
	court.down.Store(false)
	for _, args := range [][]string{
		{"dlq", "replay", "--connector", "court"},
		{"dlq", "replay", "--all", "--dry-run"},
	} {
		res := cli.run(args...)
		require.Equal(t, 1, res.code, "%v: %s", args, res.stderr)
		require.Contains(t, res.stderr, `connector "court" is not in the connector store`)
		require.Contains(t, res.stderr, "nothing was replayed")
	}
	require.Len(t, cli.letters("court"), 1, "the dead letter stays")
	require.Len(t, court.keys(), 3, "nothing more was sent")
}
