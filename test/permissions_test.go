package test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// natsPermissions reads one of deploy/nats/*.json, the form nats-server's
// configuration and server.Permissions share.
func natsPermissions(t *testing.T, name string) *server.Permissions {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployRoot(t), "deploy", "nats", name))
	require.NoError(t, err)
	var p server.Permissions
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), name)
	require.NotNil(t, p.Publish, name)
	require.NotNil(t, p.Subscribe, name)
	return &p
}

// permissionsServer starts a JetStream server whose users extsync,
// producer and operator have exactly the permissions of deploy/nats; edit
// changes extsync's before it starts.
func permissionsServer(t *testing.T, edit func(*server.Permissions)) string {
	t.Helper()
	extsync := natsPermissions(t, "permissions.json")
	if edit != nil {
		edit(extsync)
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "extsync", Password: "extsync-pw", Permissions: extsync},
			{Username: "producer", Password: "producer-pw", Permissions: natsPermissions(t, "producer.json")},
			{Username: "operator", Password: "operator-pw", Permissions: natsPermissions(t, "operator.json")},
		},
	})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(10*time.Second))
	return ns.ClientURL()
}

// asUser is env (from binBaseEnv, with EXTSYNC_NATS_URL) for another NATS
// user, its password in a file.
func asUser(t *testing.T, env []string, user string) []string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), user+"-password")
	require.NoError(t, os.WriteFile(pw, []byte(user+"-pw\n"), 0o600))
	out := slices.Clone(env)
	return append(out, "EXTSYNC_NATS_USER="+user, "EXTSYNC_NATS_PASSWORD_FILE="+pw)
}

// TestNATSPermissionsAreEnough runs extsync against a NATS whose users
// have exactly deploy/nats's permissions: serve as extsync, publish as
// producer, and the operator's dlq ls/replay, log and connectors apply.
func TestNATSPermissionsAreEnough(t *testing.T) {
	url := permissionsServer(t, nil)
	sink := &opsSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	conf := binWriteFile(t, "connectors.yaml", fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    retry: {max_attempts: 1}
    http: {url: "%s/workflows/{id}"}
`, srv.URL))
	base := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "EXTSYNC_NATS_URL="+url)
	var log lockedBuffer
	serve := killStartTo(t, asUser(t, base, "extsync"), &log)
	producer, operator := asUser(t, base[2:], "producer"), opsCLI{t, asUser(t, base[2:], "operator")}

	sink.down.Store(true)
	res := binRun(t, producer, "publish", "hms.workflow.updated", `{"id":"wf-1"}`)
	require.Equal(t, 0, res.code, res.stderr)
	require.Eventually(t, func() bool { return len(operator.letters("court")) == 1 }, 30*time.Second, 100*time.Millisecond,
		"a dead letter; serve's log:\n%s", log.String())

	sink.down.Store(false)
	require.Contains(t, operator.ok("dlq", "replay", "--connector", "court"), "replayed 1 dead letter ")
	require.Eventually(t, func() bool { return len(operator.story("--connector", "court", "--status", "delivered")) == 1 },
		30*time.Second, 100*time.Millisecond)
	require.Len(t, sink.keys(), 1)

	other := binWriteFile(t, "clinic.yaml", connectorDoc("clinic", "hms.scheduling.updated", srv.URL))
	require.Contains(t, operator.ok("connectors", "apply", "-f", other), "applied 1 connector: clinic")
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), `msg="connector applied from the connector store" connector=clinic`)
	}, 30*time.Second, 50*time.Millisecond)
	res = binRun(t, producer, "publish", "hms.scheduling.updated", `{"id":"s-1"}`)
	require.Equal(t, 0, res.code, res.stderr)
	require.Eventually(t, func() bool { return len(sink.keys()) == 2 }, 30*time.Second, 50*time.Millisecond)

	// The operator sends the snapshot's newest version of each entity
	// again; serve's writer keeps the snapshot.
	require.Contains(t, operator.ok("resync", "court", "--json"), `"sent": 1`)
	// One entity's entry is read directly from the snapshot stream.
	require.Contains(t, operator.ok("resync", "court", "--entity", "wf-1", "--dry-run", "--json"), `"entities": 1`)

	require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
	require.NoError(t, serve.Wait())
	require.NotContains(t, strings.ToLower(log.String()), "permissions violation", log.String())
}

// TestNATSPermissionMissingIsNamed takes one permission from extsync's
// list: serve fails fast enough and says which subject NATS refused,
// instead of hanging.
func TestNATSPermissionMissingIsNamed(t *testing.T) {
	const refused = "$JS.API.CONSUMER.CREATE.HMS_EVENTS.>"
	url := permissionsServer(t, func(p *server.Permissions) {
		i := slices.Index(p.Publish.Allow, refused)
		require.GreaterOrEqual(t, i, 0, "permissions.json allows %s", refused)
		p.Publish.Allow = slices.Delete(p.Publish.Allow, i, i+1)
	})
	conf := binWriteFile(t, "connectors.yaml", connectorDoc("court", "hms.workflow.updated", "http://127.0.0.1:1"))
	env := asUser(t, append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+conf, "EXTSYNC_NATS_URL="+url), "extsync")
	start := time.Now()
	res := binRun(t, env, "serve")
	require.NotEqual(t, 0, res.code)
	require.Less(t, time.Since(start), 30*time.Second, "serve gives up instead of hanging")
	// The first consumer serve makes on the event stream is the snapshot
	// writer's.
	want := `permissions violation for publish to "$JS.API.CONSUMER.CREATE.HMS_EVENTS.extsync-snapshot"`
	require.Contains(t, res.stderr, "extsync: "+want, "the command's error names the subject")
	require.Contains(t, res.stderr, `msg="NATS refused an operation: permissions violation for publish to `, "and so does the log")
	require.Contains(t, res.stderr, "op=publish subject=$JS.API.CONSUMER.CREATE.HMS_EVENTS.extsync-snapshot")

}
