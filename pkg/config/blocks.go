package config

import (
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// connectorFields are the keys of a connector that are its own settings;
// any other key holding a mapping is a kind block.
var connectorFields = yamlKeys(reflect.TypeFor[Connector]())

func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// UnmarshalYAML decodes the connector's own settings strictly and keeps
// every other key that holds a mapping as a kind block under its name.
// The set of kinds is open (a custom binary registers its own), so which
// block names are valid is decided later, against Kind and the Checker.
// It returns the first problem; Parse reports them all (decodeConnector).
func (c *Connector) UnmarshalYAML(n ast.Node) error {
	return firstError(c.decodeConnector(n))
}

// decodeConnector is UnmarshalYAML returning every problem found.
func (c *Connector) decodeConnector(n ast.Node) []error {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		return []error{errAt(n, "a connector must be a mapping, got %s", n.Type())}
	}
	own := &ast.MappingNode{BaseNode: &ast.BaseNode{}}
	if m, ok := n.(*ast.MappingNode); ok {
		copied := *m
		own = &copied
	}
	own.Values = nil
	blocks := map[string]Block{}
	for _, mv := range values {
		key := mv.Key.GetToken().Value
		if !connectorFields[key] && !strings.HasPrefix(key, "<<") && isBlock(mv.Value) {
			blocks[key] = Block{node: mv.Value}
			continue
		}
		own.Values = append(own.Values, mv)
	}
	// plain has Connector's fields but not this method, so the decoder
	// does not come back here.
	type plain Connector
	var p plain
	errs := decodeAll(own, reflect.ValueOf(&p))
	*c = Connector(p)
	c.blocks = blocks
	c.jitterSet = hasKey(own, "retry", "jitter")
	return errs
}

// isBlock reports a value that can be a kind block: a mapping, maybe
// anchored or tagged, or nothing at all (a kind with no settings).
func isBlock(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.NullNode:
		return true
	case *ast.AnchorNode:
		return isBlock(v.Value)
	case *ast.TagNode:
		return isBlock(v.Value)
	}
	return false
}
