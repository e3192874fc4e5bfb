package config

import (
	"errors"
	"fmt"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Error is one problem in a connectors file.
type Error struct {
	File  string
	Line  int
	Col   int
	Field string // dotted path such as connectors[0].retry.initial
	Msg   string
}

func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", pos, e.Field, e.Msg)
}

// FieldError is a Checker's problem with a connector field outside the
// kind's block (delete_when, say): Parse places it at that field.
type FieldError struct {
	Field string // below the connector, e.g. "delete_when"
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrInvalid matches every configuration error, so callers can tell a bad
// file (exit code 2) from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

// Is makes errors.Is(err, ErrInvalid) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// tokenError is returned by our own unmarshalers so the position of the
// offending value survives goccy's decoder.
type tokenError struct {
	tok *token.Token
	msg string
}

func (e *tokenError) Error() string          { return e.msg }
func (e *tokenError) GetToken() *token.Token { return e.tok }
func (e *tokenError) GetMessage() string     { return e.msg }

func errAt(n ast.Node, format string, args ...any) error {
	return &tokenError{tok: n.GetToken(), msg: fmt.Sprintf(format, args...)}
}

// positioned is what goccy's errors and ours have in common.
type positioned interface {
	GetToken() *token.Token
	GetMessage() string
}

// locate turns a decoder error into an *Error with file, line and the
// dotted path of the field it is about. The message is goccy's short one,
// never the annotated source, which could show an expanded secret.
func locate(file string, root ast.Node, err error) error {
	var p positioned
	if !errors.As(err, &p) || p.GetToken() == nil {
		return &Error{File: file, Msg: err.Error()}
	}
	tok := p.GetToken()
	return &Error{
		File: file, Line: tok.Position.Line, Col: tok.Position.Column,
		Field: fieldOf(root, tok), Msg: p.GetMessage(),
	}
}

// fieldOf finds the node holding tok and renders its path.
func fieldOf(root ast.Node, tok *token.Token) string {
	if root == nil {
		return ""
	}
	var found ast.Node
	ast.Walk(visitor(func(n ast.Node) bool {
		if n != nil && found == nil && n.GetToken() == tok {
			found = n
		}
		return found == nil
	}), root)
	if found == nil {
		return ""
	}
	return displayPath(found.GetPath())
}

// nodeAt finds the node at a dotted path, for errors found after decoding.
func nodeAt(root ast.Node, path string) ast.Node {
	p, err := yaml.PathString("$." + path)
	if err != nil {
		return nil
	}
	n, err := p.FilterNode(root)
	if err != nil {
		return nil
	}
	return n
}

func displayPath(p string) string {
	if len(p) > 2 && p[:2] == "$." {
		return p[2:]
	}
	return p
}

type visitor func(ast.Node) bool

func (v visitor) Visit(n ast.Node) ast.Visitor {
	if v(n) {
		return v
	}
	return nil
}
