package soap

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- UsernameToken Profile 1.0 defines PasswordDigest with SHA-1
	"encoding/base64"
	"encoding/xml"
	"time"
)

// Envelope namespaces.
const (
	NS11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NS12 = "http://www.w3.org/2003/05/soap-envelope"
)

// OASIS Web Services Security 1.0 (UsernameToken Profile 1.0) names.
const (
	NSWSSE             = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NSWSU              = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	TypePasswordText   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"   // #nosec G101 -- a type URI, not a password
	TypePasswordDigest = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest" // #nosec G101 -- a type URI, not a password
	EncodingBase64     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

func isEnvelopeNS(ns string) bool { return ns == NS11 || ns == NS12 }

// envelope writes the whole request: XML declaration, Envelope, an
// optional Header with the UsernameToken, and the rendered Body content.
func envelope(ns string, token *usernameToken, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 1024)
	b.WriteString(xml.Header)
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(ns)
	b.WriteString(`">`)
	if token != nil {
		b.WriteString(`<soap:Header>`)
		token.write(&b)
		b.WriteString(`</soap:Header>`)
	}
	b.WriteString(`<soap:Body>`)
	b.Write(body)
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes()
}

// usernameToken is one wsse:UsernameToken; a new one (new nonce, new
// Created) goes with every request, as services refuse a repeated nonce.
type usernameToken struct {
	username, password string // password is the text or the digest
	passwordType       string // TypePasswordText or TypePasswordDigest
	nonce              []byte
	created            string
}

func newUsernameToken(w *WSSE, now time.Time) *usernameToken {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand, Go 1.24+)
	created := now.UTC().Format("2006-01-02T15:04:05.000Z")
	t := &usernameToken{username: w.Username, password: w.Password, passwordType: TypePasswordText, nonce: nonce, created: created}
	if w.PasswordType == PasswordDigest {
		t.password = passwordDigest(nonce, created, w.Password)
		t.passwordType = TypePasswordDigest
	}
	return t
}

// passwordDigest is Base64(SHA-1(nonce + created + password)), the nonce
// as raw bytes (UsernameToken Profile 1.0, section 3.1).
func passwordDigest(nonce []byte, created, password string) string {
	h := sha1.New() // #nosec G401 -- the digest the profile defines; the server checks exactly this
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (t *usernameToken) write(b *bytes.Buffer) {
	b.WriteString(`<wsse:Security xmlns:wsse="` + NSWSSE + `" xmlns:wsu="` + NSWSU + `" soap:mustUnderstand="1">`)
	b.WriteString(`<wsse:UsernameToken>`)
	b.WriteString(`<wsse:Username>`)
	_ = xml.EscapeText(b, []byte(t.username))
	b.WriteString(`</wsse:Username>`)
	b.WriteString(`<wsse:Password Type="` + t.passwordType + `">`)
	_ = xml.EscapeText(b, []byte(t.password))
	b.WriteString(`</wsse:Password>`)
	b.WriteString(`<wsse:Nonce EncodingType="` + EncodingBase64 + `">`)
	b.WriteString(base64.StdEncoding.EncodeToString(t.nonce))
	b.WriteString(`</wsse:Nonce>`)
	b.WriteString(`<wsu:Created>` + t.created + `</wsu:Created>`)
	b.WriteString(`</wsse:UsernameToken></wsse:Security>`)
}
