package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// LookupEnv resolves ${VAR} references; os.LookupEnv in production.
type LookupEnv func(name string) (string, bool)

// Checker validates what only the connector's kind knows (its block), for
// example by building the connector and closing it again.
type Checker func(c *Connector) error

// LoadFile reads and validates a connectors file.
func LoadFile(path string, env LookupEnv, check Checker) (*File, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the connectors file to read
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the connectors file: %v", errors.Unwrap(err))}
	}
	return Parse(path, data, env, check)
}

// Parse validates a connectors document; name is used in error messages.
// All problems found are returned together, each an *Error.
func Parse(name string, data []byte, env LookupEnv, check Checker) (*File, error) {
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, locate(name, nil, err)
	}
	if len(doc.Docs) == 0 || doc.Docs[0].Body == nil {
		return nil, &Error{File: name, Msg: "is empty; it must list connectors"}
	}
	root := doc.Docs[0].Body
	files := DefaultFiles()
	secrets, err := expand(name, root, env, files)
	if err != nil {
		return nil, err
	}
	f, err := decodeAndCheck(name, root, check, files)
	return f, secrets.scrub(err)
}

func decodeAndCheck(name string, root ast.Node, check Checker, files *Files) (*File, error) {
	f, errs := decodeFile(name, root)
	if len(errs) == 0 && len(f.Connectors) == 0 {
		return nil, &Error{File: name, Line: 1, Col: 1, Field: "connectors", Msg: "no connectors are defined"}
	}
	seen := map[string]int{}
	for i := range f.Connectors {
		c := &f.Connectors[i]
		base := fmt.Sprintf("connectors[%d]", i)
		at := func(field, msg string) {
			errs = append(errs, errorAt(name, root, base, field, msg))
		}
		c.setDefaults()
		for _, fe := range c.validate() {
			at(fe.field, fe.msg)
		}
		if j, dup := seen[c.Name]; dup && c.Name != "" {
			at("name", fmt.Sprintf("duplicate connector name %q (also connectors[%d])", c.Name, j))
		}
		seen[c.Name] = i
		block := c.Block()
		c.files = files
		c.decode = func(v any) error {
			if err := block.Decode(name, root, v); err != nil {
				return err
			}
			if u, ok := v.(FileUser); ok {
				u.UseFiles(files)
			}
			return nil
		}
		var kindErr error
		if check != nil && c.Kind != "" {
			if err := check(c); err != nil {
				var ce *Error
				var fe *FieldError
				switch {
				case errors.As(err, &ce):
				case errors.As(err, &fe):
					err = errorAt(name, root, base, fe.Field, fe.Err.Error())
				case !block.IsSet():
					// An unknown kind, or a kind whose block is missing: one
					// error at the kind, naming the blocks the connector has.
					msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("connector %q: ", c.Name))
					if others := c.otherBlocks(); len(others) > 0 {
						msg += fmt.Sprintf("; the connector has a block for %s", quoteAll(others))
					}
					err = errorAt(name, root, base, "kind", msg)
					kindErr = err
				default:
					field, msg := kindField(c.Kind, strings.TrimPrefix(err.Error(), fmt.Sprintf("connector %q: ", c.Name)))
					err = errorAt(name, root, base, field, msg)
				}
				errs = append(errs, err)
			}
		}
		if kindErr == nil {
			for _, other := range c.otherBlocks() {
				at(other, fmt.Sprintf("unknown field, or a block given for kind %q but the connector's kind is %q", other, c.Kind))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(sortErrors(errs)...)
	}
	return f, nil
}

// decodeFile decodes the connectors file, every connector field by field,
// and returns every problem found with its position.
func decodeFile(name string, root ast.Node) (*File, []error) {
	var f File
	values, ok := mappingValues(root)
	if !ok {
		if err := yaml.NodeToValue(root, &f, yaml.Strict()); err != nil {
			return &f, []error{locate(name, root, err)}
		}
		return &f, nil
	}
	var errs []error
	for _, mv := range values {
		key := mv.Key.GetToken().Value
		if key != "connectors" {
			errs = append(errs, locate(name, root, errAt(mv.Key, "unknown field %q (the file holds connectors:)", key)))
			continue
		}
		seq, ok := mv.Value.(*ast.SequenceNode)
		if !ok {
			if err := yaml.NodeToValue(mv.Value, &f.Connectors, yaml.Strict()); err != nil {
				errs = append(errs, locate(name, root, err))
			}
			continue
		}
		f.Connectors = make([]Connector, len(seq.Values))
		for i, item := range seq.Values {
			for _, err := range f.Connectors[i].decodeConnector(item) {
				errs = append(errs, locate(name, root, err))
			}
		}
	}
	return &f, errs
}

// kindPath is a field path at the start of a kind's error message, as in
// `http.method "PUTT": want PUT, POST, PATCH or DELETE`.
var kindPath = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])*):? `)

// kindField places a kind's error: at the field its message starts with
// when that is a field of the kind's block (the message then goes on
// without it), else at the block.
func kindField(kind, msg string) (string, string) {
	m := kindPath.FindStringSubmatch(msg)
	if m == nil || !strings.HasPrefix(m[1], kind+".") {
		return kind, msg
	}
	return m[1], strings.TrimPrefix(msg, m[0])
}

// otherBlocks are the blocks given for kinds other than the connector's.
func (c *Connector) otherBlocks() []string {
	var out []string
	for _, kind := range sortedKeys(c.blocks) {
		if kind != c.Kind {
			out = append(out, kind)
		}
	}
	return out
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// sortErrors orders positioned problems by line and column, as they
// appear in the file; others keep their place at the end.
func sortErrors(errs []error) []error {
	pos := func(err error) (int, int) {
		var ce *Error
		if errors.As(err, &ce) && ce.Line > 0 {
			return ce.Line, ce.Col
		}
		return math.MaxInt, 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		la, ca := pos(a)
		lb, cb := pos(b)
		if la != lb {
			return cmp.Compare(la, lb)
		}
		return cmp.Compare(ca, cb)
	})
	return errs
}

// errorAt places a problem at the deepest node of base.field that exists.
func errorAt(file string, root ast.Node, base, field, msg string) error {
	e := &Error{File: file, Field: base + "." + field, Msg: msg}
	for path := e.Field; ; {
		if n := nodeAt(root, path); n != nil {
			e.Line, e.Col = n.GetToken().Position.Line, n.GetToken().Position.Column
			return e
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return e
		}
		path = path[:i]
	}
}

// varRE matches ${VAR}, ${VAR:-default} and ${file:PATH}.
var varRE = regexp.MustCompile(`\$\{(file:[^}]*|[A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expanded remembers which values came from the environment, so that no
// error message repeats one: a token put in the wrong field must not be
// printed by the error about that field.
type expanded map[string]string // value -> ${NAME}

func (x expanded) scrub(err error) error {
	if err == nil || len(x) == 0 {
		return err
	}
	var out []error
	for _, e := range flatten(err) {
		var ce *Error
		if errors.As(e, &ce) {
			c := *ce
			for val, ref := range x {
				c.Msg = strings.ReplaceAll(c.Msg, val, ref)
			}
			e = &c
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// expand replaces ${VAR}, ${VAR:-default} and ${file:PATH} (the file's
// content without its trailing newline, read through files) in string
// values. It runs on parsed values, not on the text, so a value can never
// inject YAML.
func expand(file string, root ast.Node, env LookupEnv, files *Files) (expanded, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var errs []error
	secrets := expanded{}
	ast.Walk(visitor(func(n ast.Node) bool {
		s, ok := n.(*ast.StringNode)
		if !ok || !strings.Contains(s.Value, "${") {
			return true
		}
		s.Value = varRE.ReplaceAllStringFunc(s.Value, func(ref string) string {
			m := varRE.FindStringSubmatch(ref)
			if path, ok := strings.CutPrefix(m[1], fileRef); ok {
				v, err := readSecretFile(files, env, path)
				if err != nil {
					tok := s.GetToken()
					errs = append(errs, &Error{
						File: file, Line: tok.Position.Line, Col: tok.Position.Column,
						Field: displayPath(s.GetPath()),
						Msg:   fmt.Sprintf("${%s}: %v", m[1], err),
					})
					return ""
				}
				secrets[v] = ref
				return v
			}
			if v, ok := env(m[1]); ok && v != "" {
				secrets[v] = "${" + m[1] + "}"
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			tok := s.GetToken()
			errs = append(errs, &Error{
				File: file, Line: tok.Position.Line, Col: tok.Position.Column,
				Field: displayPath(s.GetPath()),
				Msg:   fmt.Sprintf("${%s} is not set in the environment", m[1]),
			})
			return ""
		})
		return true
	}), root)
	return secrets, errors.Join(errs...)
}
