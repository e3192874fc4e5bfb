package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/cli"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// run is one in-process run of the command line.
type runResult struct {
	code           int
	stdout, stderr string
}

func runCLI(args ...string) runResult {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errb)
	return runResult{code, out.String(), errb.String()}
}

// TestTyposDoNotSucceedSilently runs the mistakes an operator makes by
// hand against a real NATS: each one fails, naming what was wrong.
func TestTyposDoNotSucceedSilently(t *testing.T) {
	ns := brokertest.RunServer(t)
	nc, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	t.Setenv("EXTSYNC_NATS_URL", ns.ClientURL())
	t.Setenv("EXTSYNC_DATA_DIR", t.TempDir())

	conf := filepath.Join(t.TempDir(), "clinic.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`connectors:
  - name: clinic
    kind: http
    subjects: [hms.scheduling.updated]
    http: {url: "http://127.0.0.1:1/{id}"}
`), 0o600))
	res := runCLI("connectors", "apply", conf, "--wait", "0")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "stored clinic as revision 1")
	reg, err := connstore.Open(context.Background(), js, 1)
	require.NoError(t, err)
	entries, err := reg.List(context.Background())
	require.NoError(t, err)
	require.Len(t, entries, 1)
	res = runCLI("connectors", "apply", conf, "-f", conf)
	require.Equal(t, 2, res.code, "a file both ways is ambiguous: %s", res.stderr)

	// A connector the store does not hold and that has no dead letters.
	for _, args := range [][]string{
		{"dlq", "replay", "--connector", "nope", "--dry-run"},
		{"dlq", "replay", "--connector", "nope"},
		{"dlq", "purge", "--connector", "nope"},
		{"dlq", "purge", "--connector", "nope", "--dry-run"},
	} {
		res := runCLI(args...)
		require.Equal(t, 1, res.code, "%v: %s", args, res.stdout+res.stderr)
		require.Contains(t, res.stderr, `unknown connector "nope"`, args)
	}
	// Known ones: in the store, or only in the dead letters.
	res = runCLI("dlq", "replay", "--connector", "clinic", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.NoError(t, nc.Publish("extsync.dlq.retired", []byte(`{"id":"x"}`)))
	require.NoError(t, nc.Flush())
	res = runCLI("dlq", "purge", "--connector", "retired", "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout+res.stderr, "would purge 1 dead letter")

	res = runCLI("log", "--status", "bogus")
	require.Equal(t, 2, res.code, res.stderr)
	for _, want := range []string{`--status "bogus"`, "delivered", "retry", "dead-lettered", "superseded", "admin", "503"} {
		require.Contains(t, res.stderr, want)
	}
	res = runCLI("log", "--status", "503")
	require.Equal(t, 0, res.code, res.stderr)

	for _, args := range [][]string{{"dlq", "list"}, {"connectors", "list"}, {"conflicts", "nope"}, {"batch", "go"},
		{"nosuch"}, {"serve", "extra"}, {"dlq", "show"}, {"log", "--nosuch"}, {"dlq", "ls", "--since"}} {
		res := runCLI(args...)
		require.Equal(t, 2, res.code, "%v: %s", args, res.stdout+res.stderr)
		require.Contains(t, res.stderr, "extsync: ", args)
		require.Empty(t, res.stdout, "%v prints no help on a mistake", args)
	}
	res = runCLI("dlq")
	require.Equal(t, 0, res.code, "a group alone shows its help")
	require.Contains(t, res.stdout, "Available Commands")
}

func TestVersionNamesModuleCommitAndBuildDate(t *testing.T) {
	res := runCLI("--version")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `^extsync version dev \(module \S+ \S+, commit \S+ of \S+, go1\.\d+`, res.stdout)
	var out bytes.Buffer
	require.Equal(t, 0, cli.Run(context.Background(), []string{"--version"}, &out, &out, cli.WithVersion("1.2.3")))
	require.Contains(t, out.String(), "extsync version 1.2.3 (")
}

// TestNoServerHintNamesBothSettings: with nothing listening, a command
// says where it looked and names both settings that say where to look.
func TestNoServerHintNamesBothSettings(t *testing.T) {
	t.Setenv("EXTSYNC_NATS_URL", "")
	t.Setenv("EXTSYNC_NATS_LISTEN", "127.0.0.1:1")
	res := runCLI("dlq", "ls")
	require.Equal(t, 1, res.code, res.stderr)
	for _, want := range []string{"127.0.0.1:1", "EXTSYNC_NATS_LISTEN", "EXTSYNC_NATS_URL", "extsync serve"} {
		require.Contains(t, res.stderr, want)
	}
}
