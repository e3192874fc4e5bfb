package test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const cliGoodConnector = `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http:
      url: http://127.0.0.1:1/workflows/{id}
      headers: {Authorization: "Bearer ${CLI_TOKEN}"}
`

func TestCLIBadConnectorsFilesExitTwoNamingTheProblem(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown field", strings.Replace(cliGoodConnector, "kind: http", "kind: http\n    retries: 3", 1),
			[]string{":4:5: connectors[0].retries: unknown field \"retries\""}},
		{"bad duration", cliGoodConnector + "      timeout: 10 seconds\n",
			[]string{":8:16: connectors[0].http.timeout: invalid duration \"10 seconds\""}},
		{"duplicate name", cliGoodConnector + strings.TrimPrefix(cliGoodConnector, "connectors:\n"),
			[]string{":8:11: connectors[1].name: duplicate connector name \"court\""}},
		{"unset variable", strings.Replace(cliGoodConnector, "CLI_TOKEN", "CLI_MISSING", 1),
			[]string{":7:32: connectors[0].http.headers.Authorization: ${CLI_MISSING} is not set"}},
		{"unknown kind", strings.Replace(cliGoodConnector, "kind: http", "kind: ftp", 1),
			[]string{`:3:11: connectors[0].kind: unknown kind "ftp" (known: [http `}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := binWriteFile(t, "connectors.yaml", c.doc)
			res := binRun(t, []string{"EXTSYNC_CONNECTORS=" + path, "CLI_TOKEN=tok-s3cret"}, "serve")
			require.Equal(t, 2, res.code, res.stderr)
			for _, w := range c.want {
				require.Contains(t, res.stderr, path+w)
			}
			require.NotContains(t, res.stderr, "tok-s3cret", "a secret leaked into the error")
		})
	}
}

func TestCLIMissingConnectorsFileExitsTwo(t *testing.T) {
	res := binRun(t, []string{"EXTSYNC_CONNECTORS=/nonexistent/connectors.yaml"}, "serve")
	require.Equal(t, 2, res.code, res.stderr)
	require.Contains(t, res.stderr, "/nonexistent/connectors.yaml")
}

func TestCLIUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{{"serve", "extra"}, {"publish", "hms.x"}, {"nosuch"}, {"serve", "--nosuch"}} {
		res := binRun(t, nil, args...)
		require.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
	}
	res := binRun(t, []string{"EXTSYNC_LOG_FORMAT=xml"}, "serve")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "EXTSYNC_LOG_FORMAT")
}

func TestCLIHelpListsEveryEnvironmentSetting(t *testing.T) {
	res := binRun(t, nil, "--help")
	require.Equal(t, 0, res.code)
	for _, v := range []string{"EXTSYNC_NATS_URL", "EXTSYNC_NATS_SYNC", "EXTSYNC_DATA_DIR", "EXTSYNC_CONNECTORS",
		"EXTSYNC_STREAM", "EXTSYNC_HTTP_ADDR", "EXTSYNC_ADMIN_TOKEN", "EXTSYNC_LOG_LEVEL", "EXTSYNC_LOG_FORMAT",
		"EXTSYNC_NATS_CREDS", "EXTSYNC_NATS_NKEY", "EXTSYNC_NATS_TLS_CA", "EXTSYNC_VIEWER_TOKEN", "EXTSYNC_TRACE_URL",
		"serve", "demo", "publish"} {
		require.Contains(t, res.stdout, v)
	}
}

func TestCLIDemoShowsTheCentralUseCase(t *testing.T) {
	res := binRun(t, nil, "demo")
	require.Equal(t, 0, res.code, res.stderr)
	out := res.stdout
	for _, want := range []string{
		`A clerk approves the "Attorney Rotation" workflow`,
		"PUT /api/v1/workflows/wf-attorney-rotation",
		"answers 503 Service Unavailable",
		"court-hearings: delivered on attempt 2",
		"parked in EXTSYNC_DLQ",
		"Extsync-Error:",
		"courtroom is required for hearing H-1003",
		"delivered               4",
		"dead-lettered           1",
		// The court holds its own edit: 409, the merge reads the record and
		// sends ours with the court's note kept.
		"a clerk edits wf-attorney-rotation",
		"answers 409 Conflict",
		"GET /api/v1/workflows/wf-attorney-rotation  (extsync reads the court's record to merge)",
		`"courtNote":"Courtroom 4B held for the rotation"`,
	} {
		require.Contains(t, out, want)
	}
}
