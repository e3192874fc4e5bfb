package soap

import (
	"encoding/xml"
	"io"
	"strings"
	"unicode"

	"golang.org/x/net/html/charset"

	"github.com/hms/extsync/connectors"
)

// maxFaultText bounds each piece of text kept from a fault while parsing;
// the message is shortened further (maxReason).
const maxFaultText = 4096

// maxReason bounds the fault string (or response snippet) in an error.
const maxReason = 512

// Fault is a SOAP fault as the service sent it.
type Fault struct {
	// Version is "1.1" or "1.2", from the Fault element's namespace.
	Version string
	// Code is faultcode (1.1) or Code/Value (1.2) as written, e.g.
	// "soap:Client" or "env:Sender".
	Code string
	// Subcode is the first Code/Subcode/Value (1.2 only).
	Subcode string
	// Reason is faultstring (1.1) or Reason/Text (1.2, English preferred).
	Reason string

	codeNS, codeLocal string // Code resolved: namespace ("" if unknown) and local part
}

// Class is what the fault means for the delivery: the SOAP Server (1.1)
// and Receiver (1.2) codes say the service failed, which may pass, so
// they are transient; every other code (Client, Sender, VersionMismatch,
// MustUnderstand, DataEncodingUnknown, codes of the service's own
// namespace) says the message itself is wrong: permanent.
func (f *Fault) Class() connectors.Class {
	if f.codeNS != "" && !isEnvelopeNS(f.codeNS) {
		return connectors.Permanent // the service's own code, not SOAP's
	}
	// 1.1 codes may be refined with dots: Server.Busy is a Server fault.
	base, _, _ := strings.Cut(f.codeLocal, ".")
	switch {
	case f.Version == Version11 && base == "Server":
		return connectors.Transient
	case f.Version == Version12 && base == "Receiver":
		return connectors.Transient
	}
	return connectors.Permanent
}

// String is the fault for an error message: one line, bounded.
func (f *Fault) String() string {
	var b strings.Builder
	b.WriteString("SOAP fault")
	if f.Code != "" {
		b.WriteString(" ")
		b.WriteString(f.Code)
	}
	if f.Subcode != "" {
		b.WriteString(" (")
		b.WriteString(f.Subcode)
		b.WriteString(")")
	}
	if f.Reason != "" {
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	return oneLine(b.String(), maxReason+128)
}

// parseFault reads a response body and returns its SOAP fault, or nil if
// it holds none (not XML, not an envelope, or a Body whose first element
// is not a Fault). It reads only up to the Fault's end.
func parseFault(r io.Reader) *Fault {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = charset.NewReaderLabel
	p := faultParser{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if done, f := p.token(tok); done {
			return f
		}
	}
}

type faultParser struct {
	stack  []xml.Name          // open elements
	scopes []map[string]string // namespace prefixes declared on each open element
	fault  *Fault
	text   strings.Builder // text of the element being collected
	lang   string          // xml:lang of the Reason/Text being collected
	reason struct {
		text  string
		isEng bool
		set   bool
	}
}

// token takes one token; it returns done when the answer is known.
func (p *faultParser) token(tok xml.Token) (done bool, f *Fault) {
	switch t := tok.(type) {
	case xml.StartElement:
		p.push(t)
		depth := len(p.stack)
		switch {
		case depth == 1:
			if t.Name.Local != "Envelope" || !isEnvelopeNS(t.Name.Space) {
				return true, nil
			}
		case depth == 2:
			// Header or Body; anything but Body is skipped below.
		case depth == 3 && p.stack[1].Local == "Body":
			if t.Name.Local != "Fault" || !isEnvelopeNS(t.Name.Space) {
				return true, nil // a reply, not a fault
			}
			p.fault = &Fault{Version: Version11}
			if t.Name.Space == NS12 {
				p.fault.Version = Version12
			}
		case depth > 3 && p.fault != nil:
			p.text.Reset()
			p.lang = ""
			for _, a := range t.Attr {
				if a.Name.Local == "lang" && (a.Name.Space == "xml" || a.Name.Space == "http://www.w3.org/XML/1998/namespace") {
					p.lang = a.Value
				}
			}
		}
	case xml.CharData:
		if p.fault != nil && len(p.stack) > 3 && p.text.Len() < maxFaultText {
			p.text.Write(t[:min(len(t), maxFaultText-p.text.Len())])
		}
	case xml.EndElement:
		if p.fault != nil {
			if len(p.stack) == 3 {
				p.finish()
				return true, p.fault
			}
			p.collect()
		}
		p.pop()
		if len(p.stack) == 0 {
			return true, p.fault
		}
	}
	return false, nil
}

// collect keeps the text of the element closing now, if it is one the
// fault is made of.
func (p *faultParser) collect() {
	path := make([]string, 0, len(p.stack)-3)
	for _, n := range p.stack[3:] {
		path = append(path, n.Local)
	}
	text := strings.TrimSpace(p.text.String())
	p.text.Reset()
	f := p.fault
	switch strings.Join(path, "/") {
	case "faultcode":
		if f.Version == Version11 {
			f.Code = text
			f.codeNS, f.codeLocal = p.resolve(text)
		}
	case "faultstring":
		if f.Version == Version11 {
			f.Reason = text
		}
	case "Code/Value":
		if f.Version == Version12 {
			f.Code = text
			f.codeNS, f.codeLocal = p.resolve(text)
		}
	case "Code/Subcode/Value":
		if f.Version == Version12 && f.Subcode == "" {
			f.Subcode = text
		}
	case "Reason/Text":
		// Several languages may be given; English is preferred, then the first.
		isEng := strings.HasPrefix(strings.ToLower(p.lang), "en")
		if f.Version == Version12 && (!p.reason.set || (isEng && !p.reason.isEng)) {
			p.reason.text, p.reason.isEng, p.reason.set = text, isEng, true
		}
	}
}

func (p *faultParser) finish() {
	if p.fault.Version == Version12 && p.reason.set {
		p.fault.Reason = p.reason.text
	}
}

// resolve splits a QName written as text ("soap:Client") and looks its
// prefix up in the scope of the element being closed. An unprefixed or
// undeclared name resolves to namespace "" (taken as SOAP's, leniently).
func (p *faultParser) resolve(qname string) (ns, local string) {
	prefix, local, ok := strings.Cut(qname, ":")
	if !ok {
		return "", qname
	}
	for i := len(p.scopes) - 1; i >= 0; i-- {
		if v, ok := p.scopes[i][prefix]; ok {
			return v, local
		}
	}
	return "", local
}

func (p *faultParser) push(t xml.StartElement) {
	p.stack = append(p.stack, t.Name)
	var scope map[string]string
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" {
			if scope == nil {
				scope = map[string]string{}
			}
			scope[a.Name.Local] = a.Value
		}
	}
	p.scopes = append(p.scopes, scope)
}

func (p *faultParser) pop() {
	if len(p.stack) > 0 {
		p.stack = p.stack[:len(p.stack)-1]
		p.scopes = p.scopes[:len(p.scopes)-1]
	}
}

// oneLine makes s fit a log line: control characters and runs of white
// space become one space, and it is cut to limit runes.
func oneLine(s string, limit int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= limit {
			b.WriteString("...")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
