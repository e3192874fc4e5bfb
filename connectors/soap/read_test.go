package soap

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
)

const getHearing = `<sch:GetHearing xmlns:sch="urn:court"><sch:Id>{{key}}</sch:Id><sch:Ref>{{.CaseRef}}</sch:Ref></sch:GetHearing>`

func readConfig(url string) Config {
	return Config{URL: url, Action: "urn:court/UpdateHearing", Template: `<a>{{.CaseRef}}</a>`,
		Read: &Read{Action: "urn:court/GetHearing", Template: getHearing, Record: "GetHearingResponse/Hearing",
			NotFoundFault: "Client.NotFound"}}
}

func reading(t *testing.T, cfg Config) *Reader {
	t.Helper()
	c, err := build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	r, ok := c.(connectors.Remote)
	require.True(t, ok, "with soap.read the connector reads back")
	return r.(*Reader)
}

// answer11 is a SOAP 1.1 answer whose Body holds body.
func answer11(body string) string {
	return `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body>` + body + `</soap:Body></soap:Envelope>`
}

func fetch(t *testing.T, r *Reader, body map[string]any) (map[string]any, *connectors.Delivery, error) {
	t.Helper()
	d := delivery(body)
	rec, _, err := r.Fetch(context.Background(), d)
	return rec, d, err
}

func TestReadPostsTheReadOperationAndReturnsTheRecordElement(t *testing.T) {
	s := answering(t, http.StatusOK, answer11(`<r:GetHearingResponse xmlns:r="urn:court" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`+
		`<r:Hearing><r:CaseRef>H-77</r:CaseRef><other:Courtroom xmlns:other="urn:x">4B</other:Courtroom>`+
		`<r:Judge><r:Name>Okafor</r:Name></r:Judge><r:Tag>a</r:Tag><r:Tag>b</r:Tag>`+
		`<r:Note/><r:Clerk xsi:nil="true"/><r:Room></r:Room></r:Hearing></r:GetHearingResponse>`))
	r := reading(t, readConfig(s.URL))

	rec, d, err := fetch(t, r, map[string]any{"CaseRef": "H-77 <x>", "Note": nil, "Clerk": "", "Room": "1"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"CaseRef": "H-77", "Courtroom": "4B", "Judge": map[string]any{"Name": "Okafor"},
		"Tag":   []any{"a", "b"},
		"Note":  nil, // empty, and null was sent
		"Clerk": "",  // xsi:nil, and "" was sent
		"Room":  "",  // empty, and "1" was sent: a drift to show
	}, rec)
	require.Equal(t, http.StatusOK, d.Status)

	got := s.only(t)
	require.Equal(t, []string{`"urn:court/GetHearing"`}, got.Header.Values("SOAPAction"), "the read's own action")
	require.Empty(t, got.Header.Get("Idempotency-Key"), "a read is not a delivery")
	require.Contains(t, string(got.Env.Body.Inner), `<sch:Id>wf-1</sch:Id><sch:Ref>H-77 &lt;x&gt;</sch:Ref>`,
		"the entity key and the mapped record, escaped")
}

func TestReadOfSOAP12CarriesTheActionInTheContentType(t *testing.T) {
	s := answering(t, http.StatusOK, `<e:Envelope xmlns:e="`+NS12+`"><e:Body><GetHearingResponse><Hearing><CaseRef>H-1</CaseRef></Hearing></GetHearingResponse></e:Body></e:Envelope>`)
	cfg := readConfig(s.URL)
	cfg.Version = Version12
	rec, _, err := fetch(t, reading(t, cfg), map[string]any{"CaseRef": "H-1"})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"CaseRef": "H-1"}, rec)
	require.Equal(t, `application/soap+xml; charset=utf-8; action="urn:court/GetHearing"`, s.only(t).Header.Get("Content-Type"))
}

func TestReadFindsMissingRecords(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"the not-found fault, 1.1", http.StatusInternalServerError, fault11("soap:Client.NotFound", "no hearing wf-1")},
		{"the not-found subcode, 1.2", http.StatusBadRequest, fault12("env:Sender", "c:NotFound", "no hearing wf-1")},
		{"no record element", http.StatusOK, answer11(`<GetHearingResponse/>`)},
		{"an empty record element", http.StatusOK, answer11(`<GetHearingResponse><Hearing> </Hearing></GetHearingResponse>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := readConfig(answering(t, tt.status, tt.body).URL)
			if tt.status == http.StatusBadRequest {
				cfg.Version, cfg.Read.NotFoundFault = Version12, "NotFound"
			}
			rec, d, err := fetch(t, reading(t, cfg), map[string]any{"CaseRef": "H-1"})
			require.NoError(t, err)
			require.Empty(t, rec)
			require.Equal(t, tt.status, d.Status)
		})
	}
}

func TestReadFailuresAreClassifiedAsDeliveriesAre(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	tests := []struct {
		name  string
		url   string
		class connectors.Class
		msg   string
	}{
		{"another client fault", answering(t, 500, fault11("soap:Client", "bad id")).URL, connectors.Permanent, "SOAP fault soap:Client: bad id"},
		{"a server fault", answering(t, 500, fault11("soap:Server.Busy", "later")).URL, connectors.Transient, "Server.Busy"},
		{"503 without a fault", answering(t, 503, "busy").URL, connectors.Transient, "503"},
		{"unreachable", down, connectors.Transient, "POST"},
		{"not the answer configured", answering(t, 200, answer11(`<Other/>`)).URL, connectors.Permanent,
			"the answer has no GetHearingResponse in soap:Body"},
		{"not an envelope", answering(t, 200, `<html/>`).URL, connectors.Permanent, "not a SOAP envelope"},
		{"text where fields belong", answering(t, 200, answer11(`<GetHearingResponse><Hearing>x</Hearing></GetHearingResponse>`)).URL,
			connectors.Permanent, "holds text, not fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := fetch(t, reading(t, readConfig(tt.url)), map[string]any{"CaseRef": "H-1"})
			require.Error(t, err)
			require.Equal(t, tt.class, connectors.Classify(err), "%v", err)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

func TestReadWithoutTheNotFoundFaultTakesEveryFaultAsAFailure(t *testing.T) {
	cfg := readConfig(answering(t, 500, fault11("soap:Client.NotFound", "no hearing")).URL)
	cfg.Read.NotFoundFault = ""
	_, _, err := fetch(t, reading(t, cfg), map[string]any{"CaseRef": "H-1"})
	require.Equal(t, connectors.Permanent, connectors.Classify(err))
}

func TestWithoutReadTheConnectorCannotReadBack(t *testing.T) {
	c, err := build(Config{URL: okURL, Template: `<a/>`})
	require.NoError(t, err)
	defer c.Close()
	_, ok := c.(connectors.Remote)
	require.False(t, ok)
}

func TestReadBlockIsValidated(t *testing.T) {
	tests := []struct {
		name string
		read Read
		want string
	}{
		{"no template", Read{Record: "R/H"}, "soap.read.template is required"},
		{"no record", Read{Template: "<a/>"}, "soap.read.record is required"},
		{"record with a prefix", Read{Template: "<a/>", Record: "r:GetHearingResponse/Hearing"}, `soap.read.record "r:GetHearingResponse/Hearing": want element local names`},
		{"record with an empty step", Read{Template: "<a/>", Record: "R//H"}, "soap.read.record"},
		{"fault with a prefix", Read{Template: "<a/>", Record: "R", NotFoundFault: "soap:Client.NotFound"}, "soap.read.not_found_fault"},
		{"action with a quote", Read{Action: `a"b`, Template: "<a/>", Record: "R"}, "soap.read.action cannot contain quotes"},
		{"template parse error", Read{Template: "<a>\n{{.x}</a>", Record: "R"}, "soap.read.template line 2:"},
		{"template not XML", Read{Template: "<a>{{key}}", Record: "R"}, "soap.read.template is not well-formed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := tt.read
			_, err := build(Config{URL: okURL, Template: `<a/>`, Read: &read})
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestReadBlockErrorsNameTheirLine(t *testing.T) {
	doc := `connectors:
  - name: court-soap
    kind: soap
    subjects: [hms.workflow.updated]
    soap:
      url: https://court.example/ws
      template: <a/>
      read:
        template: <b/>
        record: "r:Hearing"
`
	check := func(c *config.Connector) error {
		conn, err := Factory{}.New(connectors.Spec{Name: c.Name, Concurrency: 1, Decode: c.Decode})
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	_, err := config.Parse("connectors.yaml", []byte(doc), nil, check)
	require.ErrorContains(t, err, "connectors.yaml:10:")
	require.ErrorContains(t, err, "connectors[0].soap.read.record")
}
