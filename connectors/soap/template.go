package soap

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// escaperName is the function appended to every action that prints.
const escaperName = "xml"

// bodyTemplate is the content of soap:Body: a text/template over the
// mapped event in which every value printed by an action is XML-escaped.
//
// The escaping is structural, the way html/template does it: after
// parsing, every action that writes to the output ({{.x}}, {{index . "x"}},
// {{printf ...}}, inside if/range/with and defined templates alike) gets
// `| xml "<action>"` appended to its pipeline, so no value can reach the
// output without passing through xml.EscapeText. Actions that only
// declare or assign a variable print nothing and are left alone.
type bodyTemplate struct {
	name string // "soap.template" or "soap.template_file <path>", for errors
	tmpl *template.Template
}

// parseBodyTemplate parses text with the functions every template has
// (xml, required) and extra ones.
func parseBodyTemplate(name, text string, extra template.FuncMap) (*bodyTemplate, error) {
	t, err := template.New("body").Funcs(template.FuncMap{
		escaperName: escapeValue,
		"required":  required,
	}).Funcs(extra).Parse(text)
	if err != nil {
		return nil, templateError(name, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			escapeList(tt.Root)
		}
	}
	return &bodyTemplate{name: name, tmpl: t}, nil
}

// render executes the template over the mapped event and checks that the
// result is well-formed XML content.
func (b *bodyTemplate) render(data map[string]any) ([]byte, error) {
	return b.renderWith(b.tmpl, data)
}

// renderWith renders with t, b's template or a clone of it with other
// functions.
func (b *bodyTemplate) renderWith(t *template.Template, data map[string]any) ([]byte, error) {
	if data == nil {
		data = map[string]any{}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, templateError(b.name, err)
	}
	if err := checkContent(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("%s: the rendered body is not well-formed XML: %w", b.name, err)
	}
	return buf.Bytes(), nil
}

// checkAtStart renders the template with no fields at all. A template that
// refuses that (a required field) is left to delivery time; one that
// renders must give well-formed XML, or every event would fail.
func (b *bodyTemplate) checkAtStart() error {
	var buf bytes.Buffer
	if err := b.tmpl.Execute(&buf, map[string]any{}); err != nil {
		return nil
	}
	if err := checkContent(buf.Bytes()); err != nil {
		return fmt.Errorf("%s is not well-formed XML: %w", b.name, err)
	}
	return nil
}

func escapeList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			escapePipe(n.Pipe)
		case *parse.IfNode:
			escapeList(n.List)
			escapeList(n.ElseList)
		case *parse.RangeNode:
			escapeList(n.List)
			escapeList(n.ElseList)
		case *parse.WithNode:
			escapeList(n.List)
			escapeList(n.ElseList)
		case *parse.ListNode:
			escapeList(n)
		}
		// TextNode is the template's own XML; TemplateNode runs a template
		// whose actions are escaped in turn; the rest print nothing.
	}
}

func escapePipe(p *parse.PipeNode) {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) == 0 {
		return // {{$x := ...}} and {{$x = ...}} print nothing
	}
	if last := p.Cmds[len(p.Cmds)-1]; len(last.Args) > 0 {
		if id, ok := last.Args[0].(*parse.IdentifierNode); ok && id.Ident == escaperName {
			return // already ends in | xml
		}
	}
	label := p.String()
	p.Cmds = append(p.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      p.Position(),
		Args: []parse.Node{
			parse.NewIdentifier(escaperName).SetTree(nil).SetPos(p.Position()),
			&parse.StringNode{NodeType: parse.NodeString, Pos: p.Position(), Quoted: strconv.Quote(label), Text: label},
		},
	})
}

// escapeValue is the xml function: {{.x | xml}}, or as appended by
// escapePipe {{.x | xml ".x"}}, the label naming the action in errors. It
// writes a JSON value as XML text: a missing field or null as nothing,
// numbers as written in the event, and refuses objects and lists, which
// have no single text form (use range, or a dotted path into them).
func escapeValue(args ...any) (string, error) {
	var label string
	var v any
	switch len(args) {
	case 1:
		v = args[0]
	case 2:
		label, _ = args[0].(string)
		v = args[1]
	default:
		return "", fmt.Errorf("xml takes one value, got %d arguments", len(args))
	}
	s, err := textOf(v)
	if err != nil {
		if label != "" {
			return "", fmt.Errorf("{{%s}}: %w", label, err)
		}
		return "", err
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // also replaces characters XML cannot hold with U+FFFD
	return b.String(), nil
}

var errNotText = errors.New("is an object or a list, which has no text form (use range, or a dotted path to one of its fields)")

func textOf(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case []byte:
		return string(v), nil
	case fmt.Stringer:
		return v.String(), nil
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct:
		return "", errNotText
	case reflect.Pointer, reflect.Interface:
		if reflect.ValueOf(v).IsNil() {
			return "", nil
		}
	}
	return fmt.Sprint(v), nil
}

// required fails the delivery (permanently) when a field is missing, null
// or the empty string: {{required "case_reference" .case_reference}}.
func required(name string, v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("%s is required but the event has none", name)
	}
	if s, ok := v.(string); ok && s == "" {
		return nil, fmt.Errorf("%s is required but the event has it empty", name)
	}
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return nil, fmt.Errorf("%s is required but the event has none", name)
	}
	return v, nil
}

// templateErrRE takes text/template's `template: body:3:14: executing
// "body" at <...>: msg` (or `template: body:3: msg` from the parser) apart.
var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+)(?::\d+)?: (?:executing "[^"]*" at <.*?>: )?(?:error calling [^:]*: )?(.*)$`)

// templateError names the template and its line, in the template's own
// numbering (line 1 is the first line of the template text).
func templateError(name string, err error) error {
	m := templateErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%s line %s: %s", name, m[1], m[2])
}

// checkContent reports whether b is well-formed XML content: elements
// closed and nested, no stray markup, and no XML declaration or whole
// envelope where the content of soap:Body belongs.
func checkContent(b []byte) error {
	dec := xml.NewDecoder(io.MultiReader(strings.NewReader("<body>"), bytes.NewReader(b), strings.NewReader("</body>")))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fmt.Errorf("line %d: %s", se.Line, se.Msg)
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "Envelope" && isEnvelopeNS(t.Name.Space) {
				return errors.New("it is a whole SOAP envelope; the template is only the content of soap:Body")
			}
		case xml.EndElement:
			depth--
		case xml.ProcInst:
			if t.Target == "xml" {
				return errors.New("it has an XML declaration (<?xml ...?>); the template is only the content of soap:Body")
			}
		case xml.Directive:
			return errors.New("it has a DOCTYPE or other <!...> declaration, which SOAP forbids")
		}
	}
}
