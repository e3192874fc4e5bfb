package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/cli"
)

// Bad requests are refused with exit 2 before anything is read.
func TestVerifyRefusesBadRequestsWithUsage(t *testing.T) {
	t.Setenv("EXTSYNC_NATS_URL", "nats://127.0.0.1:1") // never reached
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for args, want := range map[string][]string{
		"no selection":        {"verify", "court"},
		"entity and all":      {"verify", "court", "--entity", "wf-1", "--all"},
		"entity and sample":   {"verify", "court", "--entity", "wf-1", "--sample", "5%"},
		"sample out of range": {"verify", "court", "--sample", "0%"},
		"bad rate":            {"verify", "court", "--all", "--rate", "fast"},
		"no name":             {"verify", "--all"},
	} {
		var out, errb bytes.Buffer
		code := cli.Run(ctx, want, &out, &errb)
		require.Equal(t, 2, code, "%s: %s", args, errb.String())
		require.Empty(t, out.String(), args)
	}
}

// A soap connector reads back only with soap.read; without it verify is
// a wrong request that names the block to add.
func TestVerifyOfSOAPWithoutSoapReadIsUsageNamingIt(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	brokertest.Provision(t, js)
	t.Setenv("EXTSYNC_NATS_URL", ns.ClientURL())
	t.Setenv("EXTSYNC_DATA_DIR", t.TempDir())
	conf := filepath.Join(t.TempDir(), "court.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`connectors:
  - name: court-soap
    kind: soap
    subjects: [hms.workflow.updated]
    soap:
      url: http://127.0.0.1:1/ws
      template: <h:UpdateHearing xmlns:h="urn:court"><h:Id>{{.id}}</h:Id></h:UpdateHearing>
`), 0o600))
	res := runCLI("connectors", "apply", conf, "--wait", "0")
	require.Equal(t, 0, res.code, res.stderr)

	res = runCLI("verify", "court-soap", "--all")
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "has no soap.read block")
}
