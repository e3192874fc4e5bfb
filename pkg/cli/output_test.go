package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// TestOutputReadsWell checks what operators read: dead-letter headers in
// a stable order, singulars, a re-failed replay linked to the letter it
// replayed, and a conflict shown side by side.
func TestOutputReadsWell(t *testing.T) {
	ns := brokertest.RunServer(t)
	nc, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	t.Setenv("EXTSYNC_NATS_URL", ns.ClientURL())
	ctx := context.Background()

	park := func(extra map[string]string) {
		m := nats.NewMsg("extsync.dlq.court")
		m.Data = []byte(`{"id":"wf-1"}`)
		for k, v := range map[string]string{
			"Extsync-Connector": "court", "Extsync-Subject": "hms.workflow.updated", "Extsync-Event-Id": "ev-1",
			"Extsync-Attempts": "1", "Extsync-Error": "permanent: 422", "Extsync-Status": "permanent",
			"Extsync-First-Attempt": "2026-11-30T10:00:00Z", "Extsync-Last-Attempt": "2026-11-30T10:00:00Z",
			"Zeta": "z", "Alpha": "a", "Middle": "m",
		} {
			m.Header.Set(k, v)
		}
		for k, v := range extra {
			m.Header.Set(k, v)
		}
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	park(nil)

	res := runCLI("dlq", "show", "1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "permanent after 1 attempt\n")
	var names []string
	inHeaders := false
	for _, l := range strings.Split(res.stdout, "\n") {
		switch {
		case l == "  headers":
			inHeaders = true
		case inHeaders && strings.HasPrefix(l, "    "):
			names = append(names, strings.TrimSpace(strings.SplitN(l, ":", 2)[0]))
		default:
			inHeaders = false
		}
	}
	require.Len(t, names, 11, res.stdout)
	require.True(t, slices.IsSorted(names), "headers in sorted order: %v", names)

	res = runCLI("dlq", "ls")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "1 dead letter\n")

	// The replay of letter 1 failed again and was parked anew.
	park(map[string]string{"Extsync-Replay-Of": "1", "Extsync-Attempts": "3"})
	res = runCLI("dlq", "ls")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "2 dead letters\n")
	require.Regexp(t, regexp.MustCompile(`(?m)^2 .*re-failure of dead letter 1`), res.stdout)
	var entries []map[string]any
	res = runCLI("dlq", "ls", "--json")
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &entries))
	require.EqualValues(t, 1, entries[1]["replay_of"])

	// A parked conflict, side by side.
	require.NoError(t, broker.EnsureStream(ctx, js, reconcile.ConflictStreamConfig(1)))
	require.NoError(t, reconcile.Park(ctx, js, &reconcile.Conflict{
		Connector: "court", EventID: "ev-9", Entity: "wf-9", Version: "8", Subject: "hms.workflow.updated",
		Error: "409 conflict", Fields: []string{"assignments"},
		Local:  map[string]any{"state": "approved", "assignments": "J. Okoro", "name": "Rotation"},
		Remote: map[string]any{"state": "approved", "assignments": "M. Chen", "note": "4B held"},
		Base:   map[string]any{"state": "draft", "assignments": "M. Chen"},
		Merged: map[string]any{"state": "approved", "assignments": "J. Okoro", "note": "4B held", "name": "Rotation"},
		Parked: time.Now(),
	}, 9))
	res = runCLI("conflicts", "show", "1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^\s*FIELD\s+OURS\s+THEIRS\s+BASE\s+MERGED\s*$`, res.stdout)
	require.Regexp(t, `(?m)^! assignments\s+"J. Okoro"\s+"M. Chen"\s+"M. Chen"\s+"J. Okoro"\s*$`, res.stdout)
	require.Regexp(t, `(?m)^  note\s+-\s+"4B held"\s+-\s+"4B held"\s*$`, res.stdout)
	require.NotContains(t, res.stdout, "{")
	res = runCLI("conflicts", "show", "1", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var c map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &c))
	require.Equal(t, "wf-9", c["entity"])
	_ = nc
}

// TestLogShowsTheVersion: the sync log table has a version column.
func TestLogShowsTheVersion(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	t.Setenv("EXTSYNC_NATS_URL", ns.ClientURL())
	w := synclog.NewWriter(js)
	require.NoError(t, w.Append(context.Background(), &synclog.Record{Time: time.Now(), Connector: "court",
		EventID: "ev-1", Entity: "wf-1", Version: "17", Attempt: 1, Outcome: "delivered", Status: 201}))
	res := runCLI("log")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^TIME\s+CONNECTOR\s+EVENT\s+ENTITY\s+VERSION\s+ATT\s+OUTCOME\s+CODE`, res.stdout)
	require.Regexp(t, `(?m)\s+ev-1\s+wf-1\s+17\s+1\s+delivered\s+201\s`, res.stdout)
	require.NotContains(t, res.stdout, "delete")

	// A deletion says so, also when it is delivered without an error.
	require.NoError(t, w.Append(context.Background(), &synclog.Record{Time: time.Now(), Connector: "court",
		EventID: "ev-2", Entity: "wf-1", Version: "18", Attempt: 1, Outcome: "delivered", Status: 404,
		Operation: synclog.OperationDelete}))
	res = runCLI("log")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)\s+ev-2\s+wf-1\s+18\s+1\s+delivered\s+404\s+\S+\s+delete$`, res.stdout)
}
