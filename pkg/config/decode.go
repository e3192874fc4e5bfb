package config

import (
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// decodeAll fills the struct ptr points to from mapping node n, field by
// field, and returns every problem instead of the first: unknown keys
// (at the key) and values that do not decode (at the value), also inside
// nested settings such as retry: or batch:. Nodes it does not take apart
// (anchors, aliases, merge keys, tags) are decoded as a whole, strictly.
func decodeAll(n ast.Node, ptr reflect.Value) []error {
	values, ok := mappingValues(n)
	if !ok {
		if err := yaml.NodeToValue(n, ptr.Interface(), yaml.Strict()); err != nil {
			return []error{err}
		}
		return nil
	}
	st := ptr.Elem()
	fields := yamlFields(st.Type())
	var errs []error
	for _, mv := range values {
		key := mv.Key.GetToken().Value
		i, known := fields[key]
		if !known {
			errs = append(errs, errAt(mv.Key, "unknown field %q", key))
			continue
		}
		fv := st.Field(i)
		switch {
		case plainStruct(fv.Type()) && isMapping(mv.Value):
			errs = append(errs, decodeAll(mv.Value, fv.Addr())...)
		case fv.Kind() == reflect.Pointer && plainStruct(fv.Type().Elem()) && isMapping(mv.Value):
			v := reflect.New(fv.Type().Elem())
			errs = append(errs, decodeAll(mv.Value, v)...)
			fv.Set(v)
		case fv.Kind() == reflect.Pointer:
			// The decoder leaves a nil pointer nil (a *bool, a block that
			// decodes itself): give it a value to decode into.
			v := reflect.New(fv.Type().Elem())
			if err := yaml.NodeToValue(mv.Value, v.Interface(), yaml.Strict()); err != nil {
				errs = append(errs, err)
				continue
			}
			fv.Set(v)
		default:
			if err := yaml.NodeToValue(mv.Value, fv.Addr().Interface(), yaml.Strict()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// hasKey reports whether mapping n holds key at path (keys, outermost
// first), to tell an explicit zero from an absent value.
func hasKey(n ast.Node, path ...string) bool {
	for _, key := range path {
		values, ok := mappingValues(n)
		if !ok {
			return false
		}
		n = nil
		for _, mv := range values {
			if mv.Key.GetToken().Value == key {
				n = mv.Value
			}
		}
		if n == nil {
			return false
		}
	}
	return true
}

// mappingValues are the entries of a plain mapping; false for anything
// decodeAll leaves to the decoder as a whole.
func mappingValues(n ast.Node) ([]*ast.MappingValueNode, bool) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		return nil, false
	}
	for _, mv := range values {
		if k := mv.Key.GetToken(); k == nil || strings.HasPrefix(k.Value, "<<") {
			return nil, false
		}
	}
	return values, true
}

func isMapping(n ast.Node) bool {
	_, ok := mappingValues(n)
	return ok
}

var nodeUnmarshaler = reflect.TypeFor[interface{ UnmarshalYAML(ast.Node) error }]()

// plainStruct is a struct decodeAll can take apart: no unmarshaler of its
// own (Duration, Rate, Block, ... decode themselves).
func plainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(nodeUnmarshaler) && !t.Implements(nodeUnmarshaler)
}

// yamlFields maps a struct's YAML keys to its field indexes.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		out[name] = i
	}
	return out
}

// firstError is the first of errs, for callers that can report one.
func firstError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
