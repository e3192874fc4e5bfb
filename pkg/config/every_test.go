package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
)

// kindCheck validates kind blocks by building the connector, as serve does.
func kindCheck(c *config.Connector) error {
	conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
	if err != nil {
		return err
	}
	return conn.Close()
}

// problems is every positioned error in err, as "line:col field".
func problems(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *config.Error
		require.ErrorAs(t, err, &ce)
		out = append(out, strings.Join([]string{itoa(ce.Line) + ":" + itoa(ce.Col), ce.Field}, " "))
	}
	walk(err)
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestParseReportsEveryMistakeAtItsField checks a 9-line file with six
// mistakes: one run reports all six, each at the line and column of the
// field itself, including a mistake only the kind finds (http.method).
func TestParseReportsEveryMistakeAtItsField(t *testing.T) {
	doc := `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    retries: 3
    retry: {initial: soon, backof: 2, jitter: 0}
    rate_limit: 50/parsec
    degraded_after: 2 minutes
    http: {method: PUTT, url: "http://127.0.0.1:1/{id}"}
`
	_, err := config.Parse("c.yaml", []byte(doc), envOf(nil), kindCheck)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Equal(t, []string{
		"5:5 connectors[0].retries",
		"6:22 connectors[0].retry.initial",
		"6:28 connectors[0].retry.backof",
		"7:17 connectors[0].rate_limit",
		"8:21 connectors[0].degraded_after",
		"9:20 connectors[0].http.method",
	}, problems(t, err), err.Error())
	require.Contains(t, err.Error(), `c.yaml:9:20: connectors[0].http.method: "PUTT": want PUT, POST, PATCH or DELETE`)
}

// TestParseKindTypoIsOneError: a misspelt kind with its block is one
// error at the kind, naming the known kinds and the block it has.
func TestParseKindTypoIsOneError(t *testing.T) {
	doc := `connectors:
  - name: court
    kind: htp
    subjects: [hms.workflow.updated]
    http: {url: "http://127.0.0.1:1/{id}"}
`
	_, err := config.Parse("c.yaml", []byte(doc), envOf(nil), kindCheck)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Equal(t, []string{"3:11 connectors[0].kind"}, problems(t, err), err.Error())
	require.Contains(t, err.Error(), `unknown kind "htp"`)
	require.Contains(t, err.Error(), `"http"`)
}

// TestParseKeepsAnExplicitZeroJitter: jitter 0 means none; only an
// absent jitter defaults to 0.2.
func TestParseKeepsAnExplicitZeroJitter(t *testing.T) {
	doc := `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    retry: {jitter: 0}
    http: {url: "http://127.0.0.1:1/{id}"}
  - name: clinic
    kind: http
    subjects: [hms.scheduling.updated]
    retry: {initial: 2s}
    http: {url: "http://127.0.0.1:1/{id}"}
`
	f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), kindCheck)
	require.NoError(t, err)
	require.Zero(t, f.Connectors[0].Retry.Jitter)
	require.InDelta(t, 0.2, f.Connectors[1].Retry.Jitter, 1e-9)
	require.False(t, errors.Is(err, config.ErrInvalid))
}
