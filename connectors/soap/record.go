package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html/charset"
)

// nsXSI is the namespace of xsi:nil.
const nsXSI = "http://www.w3.org/2001/XMLSchema-instance"

// element is one element of an answer's Body, by its local name.
type element struct {
	name  string
	isNil bool // xsi:nil="true"
	text  strings.Builder
	kids  []*element
}

// record finds the element at path (local names from inside soap:Body)
// in the answer raw and returns its fields: each child element by its
// local name, an element with children as a nested map, one repeated as
// a list, a leaf as its text. The record is nil when the path's last
// element is absent or empty: the service has no such record. The
// elements before it must be there; without them the answer is not the
// one soap.read.record describes.
func record(raw []byte, path []string) (map[string]any, error) {
	el, err := answerBody(raw)
	if err != nil {
		return nil, err
	}
	for i, name := range path {
		next := el.child(name)
		if next == nil && i == len(path)-1 {
			return nil, nil
		}
		if next == nil {
			return nil, fmt.Errorf("the answer has no %s in soap:Body (soap.read.record is %s)",
				strings.Join(path[:i+1], "/"), strings.Join(path, "/"))
		}
		el = next
	}
	if len(el.kids) > 0 {
		return el.fields(), nil
	}
	if el.isNil || strings.TrimSpace(el.text.String()) == "" {
		return nil, nil
	}
	return nil, fmt.Errorf("the record element %s holds text, not fields", strings.Join(path, "/"))
}

// answerBody parses raw as a SOAP envelope (1.1 or 1.2, whichever was
// sent) and returns its Body.
func answerBody(raw []byte) (*element, error) {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	dec.CharsetReader = charset.NewReaderLabel
	var stack []*element
	var body *element
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the answer is not well-formed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && (t.Name.Local != "Envelope" || !isEnvelopeNS(t.Name.Space)):
				return nil, errors.New("the answer is not a SOAP envelope")
			case depth == 2 && t.Name.Local == "Body" && body == nil:
				body = &element{name: "Body"}
				stack = append(stack, body)
			case depth > 2 && len(stack) > 0:
				el := &element{name: t.Name.Local, isNil: isNil(t.Attr)}
				top := stack[len(stack)-1]
				top.kids = append(top.kids, el)
				stack = append(stack, el)
			}
		case xml.EndElement:
			if depth >= 2 && len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			depth--
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if body == nil {
		return nil, errors.New("the answer is a SOAP envelope without a Body")
	}
	return body, nil
}

func isNil(attrs []xml.Attr) bool {
	for _, a := range attrs {
		if a.Name.Local == "nil" && a.Name.Space == nsXSI {
			return a.Value == "true" || a.Value == "1"
		}
	}
	return false
}

// child is e's first child element of that local name.
func (e *element) child(name string) *element {
	for _, k := range e.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func (e *element) fields() map[string]any {
	m := make(map[string]any, len(e.kids))
	lists := map[string]bool{}
	for _, k := range e.kids {
		v := k.value()
		prev, seen := m[k.name]
		switch {
		case !seen:
			m[k.name] = v
		case lists[k.name]:
			m[k.name] = append(prev.([]any), v)
		default:
			m[k.name], lists[k.name] = []any{prev, v}, true
		}
	}
	return m
}

func (e *element) value() any {
	switch {
	case len(e.kids) > 0:
		return e.fields()
	case e.isNil:
		return nil
	}
	return e.text.String()
}

// emptyAsSent reads an element with no text (XML has no null; a
// service may write xsi:nil or not) as "" or null, whichever the
// delivery sent there.
func emptyAsSent(sent, got map[string]any) {
	for k, v := range sent {
		g, held := got[k]
		switch v := v.(type) {
		case nil:
			if g == "" {
				got[k] = nil
			}
		case string:
			if v == "" && held && g == nil {
				got[k] = ""
			}
		case map[string]any:
			if g, ok := g.(map[string]any); ok {
				emptyAsSent(v, g)
			}
		}
	}
}
