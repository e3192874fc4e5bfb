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

// opsSink refuses every request with 400 until accepting is set, and
// records the Idempotency-Key of each request it accepts.
type opsSink struct {
	accepting atomic.Bool
	mu        sync.Mutex
	accepted  []string
}

func (s *opsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if !s.accepting.Load() {
		http.Error(w, `{"error":"courtroom closed"}`, http.StatusBadRequest)
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

// TestOperatorRecoversDeadLetters is the night the court system refused
// everything: the operator lists what failed, replays it once the system
// is back, and reads the story of one event in the sync log.
func TestOperatorRecoversDeadLetters(t *testing.T) {
	sink := &opsSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http: {url: "%s/workflows/{id}"}
`, srv.URL))
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf)
	serve := killStart(t, env)
	cli := func(args ...string) binResult { return binRun(t, env[2:], args...) }

	var ids []string
	for i := range 3 {
		res := cli("publish", "hms.workflow.updated", fmt.Sprintf(`{"id":"wf-%d"}`, i))
		require.Equal(t, 0, res.code, res.stderr)
		ids = append(ids, regexp.MustCompile(`published (\S+)`).FindStringSubmatch(res.stdout)[1])
	}
	var letters []map[string]any
	require.Eventually(t, func() bool {
		res := cli("dlq", "ls", "--connector", "court", "--json")
		return res.code == 0 && json.Unmarshal([]byte(res.stdout), &letters) == nil && len(letters) == 3
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, "permanent", letters[0]["status"])
	require.Contains(t, letters[0]["reason"], "400")

	body, code := serveGet(t, "http://"+envValue(env, "EXTSYNC_HTTP_ADDR=")+"/api/v1/connectors")
	require.Equal(t, http.StatusOK, code, body)
	var conns []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &conns))
	require.Len(t, conns, 1)
	require.Equal(t, "court", conns[0]["name"])
	require.Equal(t, true, conns[0]["running"])
	require.EqualValues(t, 3, conns[0]["dead_letters"])
	require.EqualValues(t, 3, conns[0]["failed"])
	require.Contains(t, conns[0]["last_error"], "courtroom closed")

	res := cli("dlq", "show", ids[1])
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "courtroom closed")

	res = cli("dlq", "ls", "--since", "yesterday")
	require.Equal(t, 2, res.code, "a bad time filter is a usage error")
	require.Contains(t, res.stderr, `--since "yesterday": want a time such as`)
	res = cli("dlq", "replay")
	require.Equal(t, 2, res.code, "replaying everything needs --all")
	require.Contains(t, res.stderr, "--all")
	res = cli("dlq", "replay", "--all", "--mapping", "yesterdays")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, `--mapping "yesterdays": want original or current`)
	res = cli("dlq", "replay", "--connector", "court", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "would replay 3 dead letters")
	res = cli("dlq", "show", "no-such-event")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no dead letter with id or sequence "no-such-event"`)
	res = cli("dlq", "replay", "--id", "no-such-event")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no dead letter with id or sequence "no-such-event" matches; nothing was changed`)
	require.Empty(t, sink.keys(), "nothing was sent by the dry run or the errors")

	sink.accepting.Store(true)
	res = cli("dlq", "replay", "--connector", "court", "--rate", "100/s")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "replayed 3 dead letters")
	require.Eventually(t, func() bool { return len(sink.keys()) == 3 }, 30*time.Second, 20*time.Millisecond)
	require.ElementsMatch(t, ids, sink.keys(), "the original event ids stay the Idempotency-Keys")
	res = cli("dlq", "ls", "--json")
	require.Equal(t, "[]\n", res.stdout, "replayed dead letters are gone")

	var story []map[string]any
	require.Eventually(t, func() bool {
		story = nil
		res := cli("log", "--event", ids[0], "--json")
		dec := json.NewDecoder(stringsReader(res.stdout))
		for dec.More() {
			var r map[string]any
			require.NoError(t, dec.Decode(&r))
			story = append(story, r)
		}
		return len(story) == 2
	}, 20*time.Second, 100*time.Millisecond)
	require.Equal(t, "dead-lettered", story[0]["outcome"])
	require.Equal(t, "delivered", story[1]["outcome"])
	res = cli("log", "--connector", "court", "--status", "admin")
	require.Contains(t, res.stdout, "dlq replay of 3 by cli:")

	res = cli("conflicts", "ls", "--json")
	require.Equal(t, "[]\n", res.stdout, res.stderr)
	res = cli("conflicts", "resolve", "nope", "--take", "local")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no parked conflict with sequence or event id "nope"`)
	res = cli("conflicts", "resolve", "nope", "--take", "sideways")
	require.Equal(t, 2, res.code)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	res = cli("dlq", "ls")
	require.Equal(t, 1, res.code, "with nothing running, the command says where it looked")
	require.Contains(t, res.stderr, "is `extsync serve` running")
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
