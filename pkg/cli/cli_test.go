package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/cli"
	"github.com/hms/extsync/test/syncbuf"
)

// memoKind is a custom kind as a team would write one: its block is
// `memo: {label: ...}`, and it hands each delivered body to the test.
type memoKind struct{ got chan map[string]any }

func (memoKind) Kind() string { return "memo" }

func (k memoKind) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg struct {
		Label string `yaml:"label"`
	}
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Label == "" {
		return nil, errors.New("memo.label is required")
	}
	return memo(k), nil
}

type memo struct{ got chan map[string]any }

func (m memo) Deliver(ctx context.Context, d *connectors.Delivery) error {
	select {
	case m.got <- d.Body:
		return nil
	case <-ctx.Done():
		return connectors.TransientError(0, ctx.Err())
	}
}

func (memo) Timeout() time.Duration { return 5 * time.Second }
func (memo) Close() error           { return nil }

const memoDoc = `connectors:
  - name: books
    kind: memo
    subjects: [hms.workflow.updated]
    mapping: {name: title}
    memo: {label: books}
`

func TestServeRunsACustomKindAndReportsWhereItListens(t *testing.T) {
	dir := t.TempDir()
	conf, ready := filepath.Join(dir, "c.yaml"), filepath.Join(dir, "ready.json")
	require.NoError(t, os.WriteFile(conf, []byte(memoDoc), 0o600))
	for k, v := range map[string]string{
		"EXTSYNC_DATA_DIR": filepath.Join(dir, "data"), "EXTSYNC_CONNECTORS": conf, "EXTSYNC_READY_FILE": ready,
		"EXTSYNC_NATS_LISTEN": "127.0.0.1:0", "EXTSYNC_HTTP_ADDR": "127.0.0.1:0", "EXTSYNC_NATS_URL": "",
	} {
		t.Setenv(k, v)
	}
	got := make(chan map[string]any, 1)
	kinds := catalog.Default()
	kinds.Register(memoKind{got})

	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncbuf.Buffer{} // serve's logger writes while the test reads
	exited := make(chan int, 1)
	go func() { exited <- cli.Run(ctx, []string{"serve"}, io.Discard, logs, cli.WithKinds(kinds)) }()
	t.Cleanup(func() { cancel(); <-exited })

	var rep struct {
		NATSURL  string `json:"nats_url"`
		HTTPAddr string `json:"http_addr"`
		PID      int    `json:"pid"`
	}
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(ready)
		return err == nil && json.Unmarshal(data, &rep) == nil
	}, 30*time.Second, 10*time.Millisecond, "ready file; log: %s", logs)
	require.Equal(t, os.Getpid(), rep.PID)
	require.Regexp(t, `^nats://127\.0\.0\.1:[1-9]\d*$`, rep.NATSURL)
	require.Contains(t, logs.String(), "msg=ready nats_url="+rep.NATSURL+" http_addr="+rep.HTTPAddr)
	resp, err := http.Get("http://" + rep.HTTPAddr + "/readyz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	t.Setenv("EXTSYNC_NATS_LISTEN", strings.TrimPrefix(rep.NATSURL, "nats://"))
	var out, errb bytes.Buffer
	code := cli.Run(ctx, []string{"publish", "hms.workflow.updated", `{"id":"b-1","name":"Ledger"}`}, &out, &errb, cli.WithKinds(kinds))
	require.Equal(t, 0, code, errb.String())
	select {
	case body := <-got:
		require.Equal(t, map[string]any{"title": "Ledger"}, body)
	case <-time.After(30 * time.Second):
		t.Fatalf("the memo connector got nothing; log: %s", logs)
	}

	cancel()
	require.Equal(t, 0, <-exited, logs.String())
	exited <- 0 // for the cleanup
	require.NoFileExists(t, ready, "a clean exit removes the ready file")
}

func TestRunChecksConnectorsAgainstTheGivenKinds(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(strings.Replace(memoDoc, "kind: memo", "kind: mem0", 1)), 0o600))
	t.Setenv("EXTSYNC_NATS_URL", "nats://127.0.0.1:1")
	kinds := catalog.Default()
	kinds.Register(memoKind{})

	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"connectors", "apply", "-f", conf}, &out, &errb, cli.WithKinds(kinds))
	require.Equal(t, 2, code)
	require.Contains(t, errb.String(), `connectors[0].kind: unknown kind "mem0"`)
	require.Contains(t, errb.String(), "(known: [http memo sftp soap sql webhook])")

	errb.Reset()
	code = cli.Run(context.Background(), []string{"connectors", "apply", "-f", conf}, &out, &errb)
	require.Equal(t, 2, code, "without WithKinds only the built-in kinds are known")
	require.Contains(t, errb.String(), "(known: [http sftp soap sql webhook])")
}

func TestHelpListsEverySubcommand(t *testing.T) {
	var out bytes.Buffer
	require.Equal(t, 0, cli.Run(context.Background(), []string{"--help"}, &out, io.Discard))
	for _, cmd := range []string{"serve", "demo", "publish", "connectors", "dlq", "log", "bench", "batch", "conflicts", "resync"} {
		require.Contains(t, out.String(), "\n  "+cmd+" ")
	}
	require.Contains(t, out.String(), "EXTSYNC_READY_FILE")
	out.Reset()
	require.Equal(t, 0, cli.Run(context.Background(), []string{"--version"}, &out, io.Discard, cli.WithVersion("1.2.3")))
	require.Contains(t, out.String(), "1.2.3")
}

// delete_when on a kind that cannot delete is refused at load, at the
// field, before anything is stored.
func TestDeleteWhenOnAKindThatCannotDeleteIsRefused(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "c.yaml")
	doc := `connectors:
  - name: court-soap
    kind: soap
    subjects: [hms.workflow.updated]
    delete_when: '$.status == "cancelled"'
    soap:
      url: http://127.0.0.1:1/ws
      action: urn:court/UpdateHearing
      template: '<UpdateHearing>{{.id}}</UpdateHearing>'
`
	require.NoError(t, os.WriteFile(conf, []byte(doc), 0o600))
	t.Setenv("EXTSYNC_NATS_URL", "nats://127.0.0.1:1")
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"connectors", "apply", "-f", conf}, &out, &errb)
	require.Equal(t, 2, code, errb.String())
	require.Contains(t, errb.String(), `c.yaml:5:18: connectors[0].delete_when: kind "soap" cannot delete a record`)
}

func TestVerifyBlockOnAKindThatCannotReadBackIsRefused(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "c.yaml")
	doc := `connectors:
  - name: hooks
    kind: webhook
    subjects: [hms.policy.updated]
    verify: {every: 24h}
    webhook: {url: "http://127.0.0.1:1/hooks", secret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
`
	require.NoError(t, os.WriteFile(conf, []byte(doc), 0o600))
	t.Setenv("EXTSYNC_NATS_URL", "nats://127.0.0.1:1")
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"connectors", "apply", "-f", conf}, &out, &errb)
	require.Equal(t, 2, code, errb.String())
	require.Contains(t, errb.String(), `c.yaml:5:13: connectors[0].verify: connector "hooks" is of kind "webhook", which cannot read records back`)
}
