package connstore

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Split cuts a validated connectors file into one document per
// connector, by name, in file order. Each is that connector's text as
// written, quoting and comments included: re-encoding the values instead
// would unquote strings such as "1e3", which then read back as numbers.
func Split(data []byte) ([]string, map[string][]byte, error) {
	items, err := connectorItems(data)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	docs := map[string][]byte{}
	for i := range items.Values {
		doc := render(items, i)
		var want, got struct {
			Connectors []map[string]any `yaml:"connectors"`
		}
		var item map[string]any
		if err := yaml.NodeToValue(items.Values[i], &item); err != nil {
			return nil, nil, fmt.Errorf("connectors[%d]: %w", i, err)
		}
		want.Connectors = []map[string]any{item}
		name, _ := item["name"].(string)
		if name == "" {
			return nil, nil, fmt.Errorf("connectors[%d] has no name", i)
		}
		// The cut must read back as the same connector; goccy renders
		// from the original tokens, and this guards that promise.
		if err := yaml.Unmarshal(doc, &got); err != nil || !reflect.DeepEqual(want, got) {
			return nil, nil, fmt.Errorf("connector %q: its text could not be cut from the file unchanged (%v); write it in block style", name, err)
		}
		names = append(names, name)
		docs[name] = doc
	}
	return names, docs, nil
}

// connectorItems finds the sequence under the document's connectors key.
func connectorItems(data []byte) (*ast.SequenceNode, error) {
	f, err := parser.ParseBytes(data, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("connectors file: %w", err)
	}
	if len(f.Docs) == 0 {
		return nil, fmt.Errorf("connectors file is empty")
	}
	var m *ast.MappingNode
	switch body := f.Docs[0].Body.(type) {
	case *ast.MappingNode:
		m = body
	case *ast.MappingValueNode:
		m = &ast.MappingNode{Values: []*ast.MappingValueNode{body}}
	default:
		return nil, fmt.Errorf("connectors file: want a mapping with a connectors list")
	}
	for _, kv := range m.Values {
		if kv.Key.GetToken().Value != "connectors" { // the unquoted key: JSON quotes it
			continue
		}
		if seq, ok := kv.Value.(*ast.SequenceNode); ok {
			return seq, nil
		}
	}
	return nil, fmt.Errorf("connectors file: no connectors list")
}

// render writes a connectors document holding only items' i-th entry.
func render(items *ast.SequenceNode, i int) []byte {
	one := *items
	one.Values = items.Values[i : i+1]
	if len(items.ValueHeadComments) == len(items.Values) {
		one.ValueHeadComments = items.ValueHeadComments[i : i+1]
	}
	if len(items.Entries) == len(items.Values) {
		one.Entries = items.Entries[i : i+1]
	}
	one.FootComment = nil
	if i > 0 {
		one.Comment = nil // the comment above the first entry
	}
	if one.IsFlowStyle {
		return []byte("connectors: " + one.String() + "\n")
	}
	return []byte("connectors:\n" + strings.TrimLeft(one.String(), "\n") + "\n")
}
