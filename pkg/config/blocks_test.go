package config_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

// ledgerBlock is the settings of a kind this package has never heard of.
type ledgerBlock struct {
	Path  string          `yaml:"path"`
	Flush config.Duration `yaml:"flush"`
}

// kindsCheck is a Checker that knows the kinds http and ledger, as one
// built from a registry with a custom kind does.
func kindsCheck(got *ledgerBlock) config.Checker {
	return func(c *config.Connector) error {
		switch c.Kind {
		case "ledger":
			return c.Decode(got)
		case "http":
			return c.Decode(&httpBlock{})
		}
		return fmt.Errorf("unknown kind %q (known: %v)", c.Kind, []string{"http", "ledger"})
	}
}

const ledgerBase = `connectors:
  - name: books
    kind: ledger
    subjects: [hms.workflow.updated]
`

func TestParseDecodesACustomKindsBlock(t *testing.T) {
	var got ledgerBlock
	doc := ledgerBase + "    ledger:\n      path: /tmp/ledger.jsonl\n      flush: 2s\n    retry: {max_attempts: 3}\n"
	f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), kindsCheck(&got))
	require.NoError(t, err)
	require.Equal(t, "/tmp/ledger.jsonl", got.Path)
	require.Equal(t, "2s", got.Flush.D().String())
	require.True(t, f.Connectors[0].Block().IsSet())
	require.Equal(t, 3, f.Connectors[0].Retry.MaxAttempts, "the connector's own fields still decode")

	got = ledgerBlock{}
	_, err = config.Parse("c.yaml", []byte(ledgerBase+"    ledger: {path: /x}\n"), envOf(nil), kindsCheck(&got))
	require.NoError(t, err, "flow style")
	require.Equal(t, "/x", got.Path)
}

func TestParseCustomBlockErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown field in the block", ledgerBase + "    ledger:\n      path: /x\n      bogus: 1\n",
			[]string{"c.yaml:7:7:", "connectors[0].ledger.bogus", `unknown field "bogus"`}},
		{"bad duration in the block", ledgerBase + "    ledger:\n      flush: 5x\n",
			[]string{"c.yaml:6:", "connectors[0].ledger.flush", `invalid duration "5x"`}},
		{"custom block on another kind", base + "    http: {url: https://x.example/}\n    ledger: {path: /x}\n",
			[]string{"c.yaml:6:", "connectors[0].ledger", `block given for kind "ledger"`, `kind is "http"`}},
		{"block of a kind nobody registered", "connectors:\n  - name: a\n    kind: abacus\n    subjects: [hms.x]\n    abacus: {path: /x}\n",
			[]string{"c.yaml:5:", "connectors[0].abacus", `unknown kind "abacus"`}},
		{"typo'd block name", ledgerBase[:len(ledgerBase)-len("    subjects: [hms.workflow.updated]\n")] +
			"    subjects: [hms.x]\n    ledgr: {path: /x}\n",
			[]string{"c.yaml:5:", "connectors[0].ledgr", `kind is "ledger"`}},
		{"a scalar is still an unknown field", ledgerBase + "    ledger: {path: /x}\n    retries: 3\n",
			[]string{"c.yaml:6:", "connectors[0].retries", `unknown field "retries"`}},
		{"a connector that is not a mapping", "connectors:\n  - just-a-name\n",
			[]string{"c.yaml:2:", "a connector must be a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte(tt.doc), envOf(nil), kindsCheck(&ledgerBlock{}))
			require.ErrorIs(t, err, config.ErrInvalid)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseOneKeyConnectorReportsWhatIsMissing(t *testing.T) {
	_, err := config.Parse("c.yaml", []byte("connectors:\n  - name: a\n"), envOf(nil), nil)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Contains(t, err.Error(), "connectors[0].kind")
}
