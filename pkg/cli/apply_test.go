package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/service"
)

// startService runs one instance, as serve does with the connector store,
// with env as its own environment.
func startService(t *testing.T, ns *server.Server, env map[string]string) *service.Service {
	t.Helper()
	s := config.Settings{NATSURL: ns.ClientURL(), Stream: "HMS_EVENTS", Replicas: 1,
		LogMaxAge: time.Hour, Drain: 5 * time.Second}
	check := func(c *config.Connector) error {
		conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.Start(ctx, s, nil, service.Options{
		Kinds: catalog.Default(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sources: map[string][]byte{}, Check: check,
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return svc
}

func writeDoc(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

const clinicWithToken = `connectors:
  - name: clinic
    kind: http
    subjects: [hms.scheduling.updated]
    http:
      url: "http://127.0.0.1:1/{id}"
      headers: {Authorization: "Bearer ${%s}"}
`

// TestApplyReportsWhatEachInstanceDid applies connectors while two
// instances run, one without the variable the connector needs: apply
// says what each did, and fails when none could run it.
func TestApplyReportsWhatEachInstanceDid(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	t.Setenv("EXTSYNC_NATS_URL", ns.ClientURL())

	// No instance running: stored, but nothing runs it.
	court := strings.NewReplacer("name: clinic", "name: court", "${%s}", "t").Replace(clinicWithToken)
	res := runCLI("connectors", "apply", writeDoc(t, court), "--wait", "1s")
	require.Equal(t, 1, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stderr, "no running instance")
	require.NotContains(t, res.stdout, "applied")

	withToken := startService(t, ns, map[string]string{"CLINIC_TOKEN": "tok"})
	without := startService(t, ns, nil)

	// Taken by one instance, refused by the other: exit 0, the refusal named.
	res = runCLI("connectors", "apply", writeDoc(t, strings.Replace(clinicWithToken, "%s", "CLINIC_TOKEN", 1)))
	require.Equal(t, 0, res.code, res.stdout+res.stderr)
	require.Regexp(t, `(?m)^  \S+: running revision \d+$`, res.stdout)
	require.Regexp(t, `(?m)^  ! \S+: not applied: .*\$\{CLINIC_TOKEN\} is not set`, res.stdout)
	require.Contains(t, res.stdout, "running on 1 of 2 instances")

	// Readiness: the instance that never ran clinic says so; the other is ready.
	ctx := context.Background()
	require.NoError(t, withToken.Ready(ctx))
	err := without.Ready(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "clinic")
	require.Contains(t, err.Error(), "${CLINIC_TOKEN} is not set")

	// connectors ls shows each instance's state, store errors included.
	res = runCLI("connectors", "ls")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `(?m)^  ! \S+: revision \d+ not applied here: .*\$\{CLINIC_TOKEN\} is not set`, res.stdout)
	var rows []struct {
		Name      string `json:"name"`
		Instances []struct {
			Instance      string `json:"instance"`
			Running       bool   `json:"running"`
			RegistryError string `json:"registry_error"`
		} `json:"instances"`
	}
	res = runCLI("connectors", "ls", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &rows), res.stdout)
	require.Len(t, rows, 2)
	require.Equal(t, "clinic", rows[0].Name)
	require.Len(t, rows[0].Instances, 2)
	var errs int
	for _, in := range rows[0].Instances {
		if in.RegistryError != "" {
			errs++
			require.False(t, in.Running)
		}
	}
	require.Equal(t, 1, errs)

	// A variable no instance has: the working entry is replaced in the
	// store, and apply says that nothing runs it, exit 1.
	res = runCLI("connectors", "apply", writeDoc(t, strings.Replace(clinicWithToken, "%s", "CLINIC_SECRET", 1)))
	require.Equal(t, 1, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stderr, `no instance runs revision`)
	require.Contains(t, res.stdout+res.stderr, "${CLINIC_SECRET} is not set")

	// --wait 0 stores without asking.
	res = runCLI("connectors", "apply", writeDoc(t, strings.Replace(clinicWithToken, "%s", "CLINIC_TOKEN", 1)), "--wait", "0")
	require.Equal(t, 0, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, "not waiting")
}
