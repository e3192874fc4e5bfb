package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written as "10s" or "1h30m".
type Duration time.Duration

// UnmarshalYAML implements goccy's NodeUnmarshaler so a bad value keeps
// its position.
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	s, ok := scalarText(n)
	if !ok {
		return errAt(n, "want a duration such as 10s, got %s", n.Type())
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errAt(n, "invalid duration %q (use units like 500ms, 10s, 5m, 1h)", s)
	}
	if v < 0 {
		return errAt(n, "duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Rate is "N/s", "N/m", "N/h" or "N/<duration>" (e.g. 50/s, 10/100ms).
type Rate struct {
	N   int
	Per time.Duration
}

// UnmarshalYAML parses the rate, keeping the value's position on error.
func (r *Rate) UnmarshalYAML(n ast.Node) error { return parseScalar(n, ParseRate, r) }

// parseScalar sets *into to n's text as parse reads it; an error keeps
// n's position.
func parseScalar[T any](n ast.Node, parse func(string) (T, error), into *T) error {
	s, _ := scalarText(n)
	v, err := parse(s)
	if err != nil {
		return errAt(n, "%v", err)
	}
	*into = v
	return nil
}

// ParseRate parses "50/s" and the like.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("invalid rate %q (want N/s, N/m, N/h or N/<duration>)", s)
	}
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	if per == 0 {
		if per, err = time.ParseDuration(unit); err != nil || per <= 0 {
			return Rate{}, fmt.Errorf("invalid rate %q (want N/s, N/m, N/h or N/<duration>)", s)
		}
	}
	return Rate{N: n, Per: per}, nil
}

// IsZero reports an unset rate (no limit).
func (r Rate) IsZero() bool { return r.N == 0 }

// Block keeps a kind block (http:, webhook:, ...) undecoded until the
// kind's factory says what its fields are.
type Block struct {
	node ast.Node
}

// UnmarshalYAML keeps the node.
func (b *Block) UnmarshalYAML(n ast.Node) error {
	b.node = n
	return nil
}

// IsSet reports whether the block was given.
func (b Block) IsSet() bool { return b.node != nil }

// Decode fills v from the block, rejecting unknown fields.
func (b Block) Decode(file string, root ast.Node, v any) error {
	if b.node == nil {
		return nil
	}
	if err := yaml.NodeToValue(b.node, v, yaml.Strict()); err != nil {
		return locate(file, root, err)
	}
	return nil
}

func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode:
		return v.GetToken().Value, true
	}
	return "", false
}
