package config_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

func parseVerify(t *testing.T, block string) (*config.Connector, error) {
	t.Helper()
	doc := "connectors:\n  - name: court\n    kind: http\n    subjects: [hms.x]\n    verify: " + block + "\n"
	f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), nil)
	if err != nil {
		return nil, err
	}
	return &f.Connectors[0], nil
}

func TestVerifyBlockReadsItsFields(t *testing.T) {
	c, err := parseVerify(t, "{every: 12h, sample: 5%, rate: 20/s, repair: true}")
	require.NoError(t, err)
	require.Equal(t, &config.Verify{Every: config.Duration(12 * time.Hour), Sample: 5,
		Rate: config.Rate{N: 20, Per: time.Second}, Repair: true}, c.Verify)
}

func TestVerifyBlockDefaults(t *testing.T) {
	c, err := parseVerify(t, "{repair: false}")
	require.NoError(t, err)
	require.Equal(t, &config.Verify{Every: config.Duration(24 * time.Hour), Sample: 100,
		Rate: config.DefaultVerifyRate}, c.Verify)
	c, err = parseVerify(t, "{sample: 0.5}")
	require.NoError(t, err)
	require.InDelta(t, 0.5, float64(c.Verify.Sample), 1e-9)
}

func TestVerifyBlockErrorsArePlaced(t *testing.T) {
	for block, want := range map[string]string{
		"{every: 10s}":    "want at least 1m0s",
		"{sample: 0%}":    `invalid share "0%"`,
		"{sample: 150%}":  `invalid share "150%"`,
		"{rate: fast}":    `invalid rate "fast"`,
		"{every: soon}":   `invalid duration "soon"`,
		"{repair: maybe}": "repair",
		"{often: 1h}":     "often",
	} {
		_, err := parseVerify(t, block)
		require.ErrorIs(t, err, config.ErrInvalid, block)
		require.ErrorContains(t, err, "c.yaml:5:", block)
		require.ErrorContains(t, err, want, block)
	}
}

// A setting held by a pointer, to tell "not set" from false, is read.
func TestSkipUnchangedIsRead(t *testing.T) {
	for _, v := range []bool{true, false} {
		doc := fmt.Sprintf("connectors:\n  - name: court\n    kind: http\n    subjects: [hms.x]\n    skip_unchanged: %t\n", v)
		f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), nil)
		require.NoError(t, err)
		require.NotNil(t, f.Connectors[0].SkipUnchanged)
		require.Equal(t, v, *f.Connectors[0].SkipUnchanged)
	}
}
