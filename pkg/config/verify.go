package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Verify schedules verification of a connector: every so often one
// replica reads back a sample of the delivered records and compares them
// with what the system holds (see docs/coherence.md).
type Verify struct {
	// Every is how often a round runs (default 24h, at least 1m).
	Every Duration `yaml:"every"`
	// Sample is the share of the entities each round checks, in percent
	// (default 100%).
	Sample Percent `yaml:"sample"`
	// Rate caps the system reads per second (default 10/s).
	Rate Rate `yaml:"rate"`
	// Repair sends the newest version of each entity found not in step
	// through the connector again.
	Repair bool `yaml:"repair"`
}

// Verification defaults.
const (
	DefaultVerifyEvery  = 24 * time.Hour
	DefaultVerifySample = 100
	minVerifyEvery      = time.Minute
)

// DefaultVerifyRate is the reads per second a round makes by default.
var DefaultVerifyRate = Rate{N: 10, Per: time.Second}

// UnmarshalYAML reads the block, fills the defaults and checks it,
// keeping the position of a bad value.
func (v *Verify) UnmarshalYAML(n ast.Node) error {
	type plain Verify
	var p plain
	if err := yaml.NodeToValue(n, &p, yaml.Strict()); err != nil {
		return err
	}
	if p.Every == 0 {
		p.Every = Duration(DefaultVerifyEvery)
	}
	if p.Every.D() < minVerifyEvery {
		return errAt(n, "verify.every %s: want at least %s", p.Every.D(), minVerifyEvery)
	}
	if p.Sample == 0 {
		p.Sample = DefaultVerifySample
	}
	if p.Rate.IsZero() {
		p.Rate = DefaultVerifyRate
	}
	*v = Verify(p)
	return nil
}

// Percent is a share written "5%" or 5, in (0, 100].
type Percent float64

// UnmarshalYAML parses the share, keeping the value's position on error.
func (p *Percent) UnmarshalYAML(n ast.Node) error { return parseScalar(n, ParsePercent, p) }

// ParsePercent reads "5%", "5" or "0.5%".
func ParsePercent(s string) (Percent, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || f <= 0 || f > 100 {
		return 0, fmt.Errorf("invalid share %q (want a percentage above 0 and at most 100, e.g. 5%%)", s)
	}
	return Percent(f), nil
}
