package soap

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
)

// This file is a SOAP service for the tests: an httptest server that
// parses every envelope it gets with encoding/xml, as a real service
// would, and answers what the test asks.

// received is one request as the service got it.
type received struct {
	Method string
	Header http.Header
	Raw    []byte
	Env    testEnvelope
	Err    error // the envelope did not parse
}

// testEnvelope is what the service reads from a request.
type testEnvelope struct {
	XMLName xml.Name
	Header  *struct {
		Security *testSecurity `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd Security"`
	} `xml:"Header"`
	Body struct {
		XMLName xml.Name
		Inner   []byte      `xml:",innerxml"`
		Update  *testUpdate `xml:"urn:court UpdateHearing"`
	} `xml:"Body"`
}

type testUpdate struct {
	CaseRef   string   `xml:"urn:court CaseRef"`
	Note      string   `xml:"urn:court Note"`
	NoteAttr  string   `xml:"note,attr"`
	Judge     string   `xml:"urn:court Judge"`
	Courtroom string   `xml:"urn:court Courtroom"`
	Count     string   `xml:"urn:court Count"`
	Fee       string   `xml:"urn:court Fee"`
	Urgent    string   `xml:"urn:court Urgent"`
	Tags      []string `xml:"urn:court Tag"`
	Evil      []string `xml:"urn:court evil"`
}

type testSecurity struct {
	MustUnderstand string `xml:"mustUnderstand,attr"`
	UsernameToken  struct {
		Username string `xml:"Username"`
		Password struct {
			Type  string `xml:"Type,attr"`
			Value string `xml:",chardata"`
		} `xml:"Password"`
		Nonce struct {
			EncodingType string `xml:"EncodingType,attr"`
			Value        string `xml:",chardata"`
		} `xml:"Nonce"`
		Created string `xml:"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd Created"`
	} `xml:"UsernameToken"`
}

// reply is the service's answer to one request.
type reply struct {
	status int
	header http.Header
	body   string
}

type service struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
}

// newService starts a service answering each request with answer(r).
func newService(t *testing.T, answer func(r received) reply) *service {
	t.Helper()
	s := &service{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got := received{Method: r.Method, Header: r.Header.Clone(), Raw: raw}
		got.Err = xml.NewDecoder(bytes.NewReader(raw)).Decode(&got.Env)
		s.mu.Lock()
		s.requests = append(s.requests, got)
		s.mu.Unlock()
		rep := answer(got)
		for k, v := range rep.header {
			w.Header()[k] = v
		}
		if rep.body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// answering is a service that always gives the same reply.
func answering(t *testing.T, status int, body string) *service {
	return newService(t, func(received) reply { return reply{status: status, body: body} })
}

func (s *service) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.requests...)
}

func (s *service) only(t *testing.T) received {
	t.Helper()
	all := s.all()
	require.Len(t, all, 1)
	require.NoError(t, all[0].Err, "the service could not parse the envelope:\n%s", all[0].Raw)
	return all[0]
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func fault11(code, reason string) string {
	return `<?xml version="1.0" encoding="utf-8"?>` +
		`<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body><soap:Fault>` +
		`<faultcode>` + code + `</faultcode><faultstring>` + esc(reason) + `</faultstring>` +
		`<detail><e:Info xmlns:e="urn:court">x</e:Info></detail>` +
		`</soap:Fault></soap:Body></soap:Envelope>`
}

func fault12(code, subcode, reason string) string {
	sub := ""
	if subcode != "" {
		sub = `<env:Subcode><env:Value>` + subcode + `</env:Value></env:Subcode>`
	}
	return `<?xml version="1.0" encoding="utf-8"?>` +
		`<env:Envelope xmlns:env="` + NS12 + `" xmlns:c="urn:court"><env:Body><env:Fault>` +
		`<env:Code><env:Value>` + code + `</env:Value>` + sub + `</env:Code>` +
		`<env:Reason><env:Text xml:lang="en">` + esc(reason) + `</env:Text></env:Reason>` +
		`</env:Fault></env:Body></env:Envelope>`
}

// build makes a connector from a Config literal standing in for the
// decoded `soap:` block.
func build(cfg Config) (connectors.Connector, error) {
	return Factory{}.New(connectors.Spec{
		Name:        "c",
		Concurrency: 4,
		Decode: func(v any) error {
			*v.(*Config) = cfg
			return nil
		},
	})
}

func newConnector(t *testing.T, cfg Config) *Connector {
	t.Helper()
	c, err := build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c.(*Connector)
}
