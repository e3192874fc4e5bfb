package soap

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

const hearingTemplate = `<sch:UpdateHearing xmlns:sch="urn:court" note="{{.note}}">
  <sch:CaseRef>{{.case_reference}}</sch:CaseRef>
  <sch:Note>{{.note}}</sch:Note>
  <sch:Judge>{{.judge.name}}</sch:Judge>
  <sch:Courtroom>{{.courtroom}}</sch:Courtroom>
  <sch:Count>{{.count}}</sch:Count>
  <sch:Fee>{{.fee}}</sch:Fee>
  <sch:Urgent>{{.urgent}}</sch:Urgent>
  {{- range .tags}}
  <sch:Tag>{{.}}</sch:Tag>
  {{- end}}
</sch:UpdateHearing>`

func delivery(body map[string]any) *connectors.Delivery {
	return &connectors.Delivery{
		Event:   &event.Event{ID: "evt-1", Key: "wf-1", Data: map[string]any{"id": "wf-1"}},
		Body:    body,
		Attempt: 1,
	}
}

func hearing() map[string]any {
	return map[string]any{
		"case_reference": "H-77",
		"note":           "plain",
		"judge":          map[string]any{"name": "Okafor"},
		"courtroom":      "4B",
		"count":          json.Number("12345678901234567890"),
		"fee":            1e6,
		"urgent":         true,
		"tags":           []any{"a", "b"},
	}
}

func ok(t *testing.T) *service { return answering(t, http.StatusOK, "") }

func TestEnvelope11AsReceived(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{
		URL: s.URL + "/ws/hearings", Action: "urn:court/UpdateHearing", Template: hearingTemplate,
		Headers: map[string]string{"X-Tenant": "hms"},
	})
	require.NoError(t, c.Deliver(connectortest.Traced(traceparent), delivery(hearing())))

	r := s.only(t)
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "text/xml; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, []string{`"urn:court/UpdateHearing"`}, r.Header.Values("SOAPAction"))
	require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, traceparent, r.Header.Get("Traceparent"))
	require.Equal(t, "hms", r.Header.Get("X-Tenant"))
	require.Equal(t, "extsync", r.Header.Get("User-Agent"))

	require.True(t, strings.HasPrefix(string(r.Raw), `<?xml version="1.0" encoding="UTF-8"?>`), "%s", r.Raw)
	require.Equal(t, NS11, r.Env.XMLName.Space)
	require.Equal(t, "Envelope", r.Env.XMLName.Local)
	require.Equal(t, NS11, r.Env.Body.XMLName.Space)
	require.Nil(t, r.Env.Header, "no Header without wsse")
	u := r.Env.Body.Update
	require.NotNil(t, u, "%s", r.Raw)
	require.Equal(t, testUpdate{
		CaseRef: "H-77", Note: "plain", NoteAttr: "plain", Judge: "Okafor", Courtroom: "4B",
		Count: "12345678901234567890", Fee: "1000000", Urgent: "true", Tags: []string{"a", "b"},
	}, *u)
}

func TestEnvelope12AsReceived(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Version: "1.2", Action: "urn:court/UpdateHearing", Template: hearingTemplate})
	require.NoError(t, c.Deliver(connectortest.Traced(traceparent), delivery(hearing())))

	r := s.only(t)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "application/soap+xml", mt)
	require.Equal(t, map[string]string{"charset": "utf-8", "action": "urn:court/UpdateHearing"}, params)
	require.Empty(t, r.Header.Values("SOAPAction"), "SOAP 1.2 has no SOAPAction header")
	require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, traceparent, r.Header.Get("Traceparent"))
	require.Equal(t, NS12, r.Env.XMLName.Space)
	require.Equal(t, NS12, r.Env.Body.XMLName.Space)
	require.Equal(t, "H-77", r.Env.Body.Update.CaseRef)
}

func TestEmptyAction(t *testing.T) {
	s := ok(t)
	c11 := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	c12 := newConnector(t, Config{URL: s.URL, Version: "1.2", Template: hearingTemplate})
	require.NoError(t, c11.Deliver(context.Background(), delivery(hearing())))
	require.NoError(t, c12.Deliver(context.Background(), delivery(hearing())))
	all := s.all()
	require.Len(t, all, 2)
	// SOAP 1.1: `""` says the intent is the request URI.
	require.Equal(t, []string{`""`}, all[0].Header.Values("SOAPAction"))
	require.Equal(t, "application/soap+xml; charset=utf-8", all[1].Header.Get("Content-Type"))
}

func TestValuesAreEscapedAndInjectionStaysText(t *testing.T) {
	values := []string{
		`a < b & c > d`,
		`say "hi" & 'bye'`,
		`</sch:CaseRef><evil/>`,
		`</sch:Note></sch:UpdateHearing><sch:UpdateHearing><evil/>`,
		`"/><evil x="`,
		`{{.case_reference}}`,
		"line one\nline two\ttab",
		`]]><evil/><![CDATA[`,
		`&amp; already escaped`,
	}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			s := ok(t)
			c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
			body := hearing()
			body["case_reference"] = v
			body["note"] = v
			body["judge"] = map[string]any{"name": v}
			body["tags"] = []any{v}
			require.NoError(t, c.Deliver(context.Background(), delivery(body)))

			r := s.only(t)
			u := r.Env.Body.Update
			require.NotNil(t, u, "%s", r.Raw)
			require.Equal(t, v, u.CaseRef)
			require.Equal(t, v, u.Note)
			require.Equal(t, v, u.NoteAttr, "attribute value")
			require.Equal(t, v, u.Judge)
			require.Equal(t, []string{v}, u.Tags)
			require.Empty(t, u.Evil)
			require.NotContains(t, string(r.Env.Body.Inner), "<evil")
		})
	}
}

func TestControlCharactersCannotBreakTheEnvelope(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	body := hearing()
	body["case_reference"] = "a\x00b\x1bc"
	require.NoError(t, c.Deliver(context.Background(), delivery(body)))
	r := s.only(t)
	require.Equal(t, "a\uFFFDb\uFFFDc", r.Env.Body.Update.CaseRef)
}

func TestMissingFieldsAreEmptyElements(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"case_reference": "H-1", "courtroom": nil})))
	r := s.only(t)
	require.Equal(t, testUpdate{CaseRef: "H-1"}, *r.Env.Body.Update)
	require.Contains(t, string(r.Raw), "<sch:Judge></sch:Judge>", "a missing nested field is empty too")
	require.NotContains(t, string(r.Raw), "no value")
}

func TestTemplateFeatures(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: `{{define "ref"}}<sch:CaseRef>{{.}}</sch:CaseRef>{{end -}}
<sch:UpdateHearing xmlns:sch="urn:court">
{{- template "ref" .case_reference}}
{{- $n := .note}}<sch:Note>{{$n}}</sch:Note>
{{- with .judge}}<sch:Judge>{{.name | printf "Judge %s"}}</sch:Judge>{{end}}
{{- if .urgent}}<sch:Urgent>yes</sch:Urgent>{{end}}
<sch:Courtroom>{{index . "court-room"}}</sch:Courtroom>
<sch:Fee>{{.fee | xml}}</sch:Fee>
</sch:UpdateHearing>`})
	body := map[string]any{
		"case_reference": "<1>", "note": "a&b", "judge": map[string]any{"name": "<O>"},
		"urgent": true, "court-room": `"4B"`, "fee": "x<y",
	}
	require.NoError(t, c.Deliver(context.Background(), delivery(body)))
	u := s.only(t).Env.Body.Update
	require.Equal(t, testUpdate{CaseRef: "<1>", Note: "a&b", Judge: "Judge <O>", Urgent: "yes", Courtroom: `"4B"`, Fee: "x<y"}, *u)
}

func TestRequiredFieldMissingIsPermanentAndSendsNothing(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: `<sch:UpdateHearing xmlns:sch="urn:court">
<sch:CaseRef>{{required "case_reference" .case_reference}}</sch:CaseRef>
<sch:Judge>{{.judge.name | required "judge.name"}}</sch:Judge>
</sch:UpdateHearing>`})
	for _, body := range []map[string]any{
		{"judge": map[string]any{"name": "x"}},
		{"case_reference": "", "judge": map[string]any{"name": "x"}},
		{"case_reference": nil, "judge": map[string]any{"name": "x"}},
	} {
		err := c.Deliver(context.Background(), delivery(body))
		require.ErrorIs(t, err, connectors.ErrPermanent)
		require.Contains(t, err.Error(), "soap.template line 2: case_reference is required")
	}
	err := c.Deliver(context.Background(), delivery(map[string]any{"case_reference": "<H>"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "soap.template line 3: judge.name is required")
	require.Empty(t, s.all())

	require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"case_reference": "<H>", "judge": map[string]any{"name": "O"}})))
	require.Equal(t, "<H>", s.only(t).Env.Body.Update.CaseRef)
}

func TestObjectValueIsPermanent(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: "<sch:UpdateHearing xmlns:sch=\"urn:court\">\n<sch:Judge>{{.judge}}</sch:Judge></sch:UpdateHearing>"})
	err := c.Deliver(context.Background(), delivery(map[string]any{"judge": map[string]any{"name": "x"}}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "soap.template line 2: {{.judge}}: is an object or a list")
	require.Empty(t, s.all())
}

func TestMalformedRenderedBodyIsPermanent(t *testing.T) {
	s := ok(t)
	// Well-formed when the flag is missing (checked at start), not when set.
	c := newConnector(t, Config{URL: s.URL, Template: "<a>\n{{if .flag}}<b>{{end}}\n</a>"})
	err := c.Deliver(context.Background(), delivery(map[string]any{"flag": true}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "soap.template: the rendered body is not well-formed XML: line 3")
	require.Empty(t, s.all())
}

// recomputeDigest is the service's side of PasswordDigest.
func recomputeDigest(t *testing.T, nonceB64, created, password string) string {
	t.Helper()
	nonce, err := base64.StdEncoding.DecodeString(nonceB64)
	require.NoError(t, err)
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// wsseService checks the UsernameToken as a WS-Security service does and
// answers 200, or a Client fault when it does not verify.
func wsseService(t *testing.T, user, password string) *service {
	return newService(t, func(r received) reply {
		refuse := reply{status: 500, body: fault11("soap:Client", "The security token could not be authenticated")}
		if r.Err != nil || r.Env.Header == nil || r.Env.Header.Security == nil {
			return refuse
		}
		tok := r.Env.Header.Security.UsernameToken
		if tok.Username != user {
			return refuse
		}
		switch tok.Password.Type {
		case TypePasswordText:
			if tok.Password.Value != password {
				return refuse
			}
		case TypePasswordDigest:
			if tok.Password.Value != recomputeDigest(t, tok.Nonce.Value, tok.Created, password) {
				return refuse
			}
		default:
			return refuse
		}
		return reply{status: 200}
	})
}

func TestWSSecurityUsernameToken(t *testing.T) {
	const user, password = "clerk & co", `pa<ss>"word'&`
	for _, typ := range []string{"", PasswordText, PasswordDigest} {
		t.Run("type "+typ, func(t *testing.T) {
			s := wsseService(t, user, password)
			c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate, WSSE: &WSSE{Username: user, Password: password, PasswordType: typ}})
			before := time.Now().UTC().Add(-time.Second)
			require.NoError(t, c.Deliver(context.Background(), delivery(hearing())))
			require.NoError(t, c.Deliver(context.Background(), delivery(hearing())))

			all := s.all()
			require.Len(t, all, 2)
			sec := all[0].Env.Header.Security
			require.Equal(t, "1", sec.MustUnderstand)
			tok := sec.UsernameToken
			nonce, err := base64.StdEncoding.DecodeString(tok.Nonce.Value)
			require.NoError(t, err)
			require.Len(t, nonce, 16)
			require.Equal(t, EncodingBase64, tok.Nonce.EncodingType)
			created, err := time.Parse(time.RFC3339Nano, tok.Created)
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(tok.Created, "Z"), "Created is UTC: %s", tok.Created)
			require.WithinRange(t, created, before, time.Now().UTC().Add(time.Second))
			require.NotEqual(t, tok.Nonce.Value, all[1].Env.Header.Security.UsernameToken.Nonce.Value, "a fresh nonce per request")
			if typ == PasswordDigest {
				require.Equal(t, TypePasswordDigest, tok.Password.Type)
				require.NotContains(t, string(all[0].Raw), "pa&lt;ss", "a digest never carries the password")
			} else {
				require.Equal(t, TypePasswordText, tok.Password.Type)
				require.Equal(t, password, tok.Password.Value)
			}
		})
	}
}

func TestWSSecurityWrongPasswordIsPermanent(t *testing.T) {
	s := wsseService(t, "clerk", "right")
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate, WSSE: &WSSE{Username: "clerk", Password: "wrong-password", PasswordType: PasswordDigest}})
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "could not be authenticated")
	require.NotContains(t, err.Error(), "wrong-password")
}

// Known digest: the same inputs always give the same value.
func TestPasswordDigestVector(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	got := passwordDigest(nonce, "2025-03-01T12:00:00.000Z", "secret")
	h := sha1.Sum([]byte("0123456789abcdef2025-03-01T12:00:00.000Zsecret"))
	require.Equal(t, base64.StdEncoding.EncodeToString(h[:]), got)
}

func TestFaults(t *testing.T) {
	long := strings.Repeat("very long reason ", 100)
	tests := []struct {
		name    string
		version string
		status  int
		body    string
		class   connectors.Class
		want    string
	}{
		{"1.1 soap:Client", "1.1", 500, fault11("soap:Client", "CaseRef H-77 is unknown"), connectors.Permanent, "SOAP fault soap:Client: CaseRef H-77 is unknown"},
		{"1.1 Client unprefixed", "1.1", 500, fault11("Client", "bad request"), connectors.Permanent, "SOAP fault Client: bad request"},
		{"1.1 Client.Validation", "1.1", 500, fault11("soap:Client.Validation", "bad date"), connectors.Permanent, "soap:Client.Validation: bad date"},
		{"1.1 soap:Server", "1.1", 500, fault11("soap:Server", "database is down"), connectors.Transient, "SOAP fault soap:Server: database is down"},
		{"1.1 Server unprefixed", "1.1", 500, fault11("Server", "busy"), connectors.Transient, "Server: busy"},
		{"1.1 Server.Busy", "1.1", 500, fault11("soap:Server.Busy", "busy"), connectors.Transient, "soap:Server.Busy: busy"},
		{"1.1 VersionMismatch", "1.1", 500, fault11("soap:VersionMismatch", "wrong ns"), connectors.Permanent, "VersionMismatch"},
		{"1.1 MustUnderstand", "1.1", 500, fault11("soap:MustUnderstand", "no wsse"), connectors.Permanent, "MustUnderstand"},
		{"1.1 the service's own Server code", "1.1", 500, strings.Replace(fault11("app:Server", "own"), "<faultcode>", `<faultcode xmlns:app="urn:app">`, 1), connectors.Permanent, "app:Server: own"},
		{"1.1 fault with 200", "1.1", 200, fault11("soap:Client", "refused"), connectors.Permanent, "refused"},
		{"1.1 Server fault with 400", "1.1", 400, fault11("soap:Server", "later"), connectors.Transient, "later"},
		{"1.2 Sender", "1.2", 400, fault12("env:Sender", "c:InvalidCase", "CaseRef H-77 is unknown"), connectors.Permanent, "SOAP fault env:Sender (c:InvalidCase): CaseRef H-77 is unknown"},
		{"1.2 Sender with 500", "1.2", 500, fault12("env:Sender", "", "bad"), connectors.Permanent, "SOAP fault env:Sender: bad"},
		{"1.2 Receiver", "1.2", 500, fault12("env:Receiver", "", "try later"), connectors.Transient, "SOAP fault env:Receiver: try later"},
		{"1.2 DataEncodingUnknown", "1.2", 500, fault12("env:DataEncodingUnknown", "", "enc"), connectors.Permanent, "DataEncodingUnknown"},
		{"1.2 service answers a 1.1 fault", "1.2", 500, fault11("soap:VersionMismatch", "1.1 only"), connectors.Permanent, "1.1 only"},
		{"multi-line reason", "1.1", 500, fault11("soap:Client", "line one\r\n\tline two\x1b[31m"), connectors.Permanent, "soap:Client: line one line two"},
		{"long reason", "1.1", 500, fault11("soap:Client", long), connectors.Permanent, "very long reason very long reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := answering(t, tt.status, tt.body)
			c := newConnector(t, Config{URL: s.URL, Version: tt.version, Template: hearingTemplate})
			err := c.Deliver(context.Background(), delivery(hearing()))
			require.Error(t, err)
			de := connectors.AsDeliveryError(err)
			require.Equal(t, tt.class, de.Class, "%v", err)
			require.Equal(t, tt.status, de.Status)
			require.Contains(t, err.Error(), tt.want)
			require.Contains(t, err.Error(), "POST "+s.URL+": SOAP fault")
			require.NotContains(t, err.Error(), "\n")
			require.NotContains(t, err.Error(), "\r")
			require.LessOrEqual(t, len(err.Error()), 1000)
		})
	}
}

func TestFault12ReasonPrefersEnglish(t *testing.T) {
	body := `<env:Envelope xmlns:env="` + NS12 + `"><env:Header/><env:Body><env:Fault>` +
		`<env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason>` +
		`<env:Text xml:lang="fr">Référence inconnue</env:Text><env:Text xml:lang="en-GB">Unknown reference</env:Text>` +
		`</env:Reason></env:Fault></env:Body></env:Envelope>`
	f := parseFault(strings.NewReader(body))
	require.NotNil(t, f)
	require.Equal(t, "Unknown reference", f.Reason)
	require.Equal(t, connectors.Permanent, f.Class())
}

func TestFaultInAnotherCharset(t *testing.T) {
	// "Référence" in ISO-8859-1.
	body := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" +
		`<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode>` +
		"<faultstring>R\xe9f\xe9rence inconnue</faultstring></soap:Fault></soap:Body></soap:Envelope>"
	s := answering(t, 500, body)
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Contains(t, err.Error(), "soap:Client: Référence inconnue")
}

func TestServerFaultHonoursRetryAfter(t *testing.T) {
	s := newService(t, func(received) reply {
		return reply{status: 503, header: http.Header{"Retry-After": {"7"}}, body: fault11("soap:Server", "maintenance")}
	})
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.Equal(t, 7*time.Second, connectors.AsDeliveryError(err).RetryAfter)
}

func TestStatusWithoutFault(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		class  connectors.Class
		retry  time.Duration
		want   string
	}{
		{"200 reply", 200, nil, `<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body><r:Ok xmlns:r="urn:court"/></soap:Body></soap:Envelope>`, 0, 0, ""},
		{"200 empty", 200, nil, "", 0, 0, ""},
		{"202 one-way", 202, nil, "", 0, 0, ""},
		{"200 not XML", 200, nil, "OK", 0, 0, ""},
		{"503 without fault", 503, http.Header{"Retry-After": {"30"}}, "<html><body>Service Unavailable</body></html>", connectors.Transient, 30 * time.Second, "503 Service Unavailable: <html><body>Service Unavailable</body></html>"},
		{"500 empty", 500, nil, "", connectors.Transient, 0, "500 Internal Server Error"},
		{"429", 429, http.Header{"Retry-After": {"2"}}, "", connectors.Transient, 2 * time.Second, "429 Too Many Requests"},
		{"408", 408, nil, "", connectors.Transient, 0, "408"},
		{"409", 409, nil, "taken", connectors.Conflict, 0, "409 Conflict: taken"},
		{"412", 412, nil, "", connectors.Conflict, 0, "412"},
		{"400 not a fault", 400, nil, "bad\nrequest", connectors.Permanent, 0, "400 Bad Request: bad request"},
		{"404", 404, nil, "", connectors.Permanent, 0, "404"},
		{"302", 302, http.Header{"Location": {"/elsewhere"}}, "", connectors.Permanent, 0, "redirects are not followed"},
		{"500 envelope without fault", 500, nil, `<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body><x/></soap:Body></soap:Envelope>`, connectors.Transient, 0, "500"},
		{"500 fault of another namespace", 500, nil, `<soap:Envelope xmlns:soap="urn:not-soap"><soap:Body><soap:Fault><faultcode>Client</faultcode></soap:Fault></soap:Body></soap:Envelope>`, connectors.Transient, 0, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, func(received) reply { return reply{status: tt.status, header: tt.header, body: tt.body} })
			c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
			err := c.Deliver(context.Background(), delivery(hearing()))
			if tt.class == 0 {
				require.NoError(t, err)
				return
			}
			de := connectors.AsDeliveryError(err)
			require.Equal(t, tt.class, de.Class, "%v", err)
			require.Equal(t, tt.status, de.Status)
			require.Equal(t, tt.retry, de.RetryAfter)
			require.Contains(t, err.Error(), tt.want)
			require.Len(t, s.all(), 1, "redirects are not followed")
		})
	}
}

func TestLongErrorBodyIsBounded(t *testing.T) {
	s := answering(t, 500, strings.Repeat("x", 100000))
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.Less(t, len(err.Error()), 700)
}

func TestSecretsNeverInErrors(t *testing.T) {
	const password, token = "S3cret-Pass&word", "T0ken-abcdef"
	// A service that echoes the whole request in its fault string.
	echo := newService(t, func(r received) reply {
		return reply{status: 500, body: fault11("soap:Client", "cannot process "+string(r.Raw)+" auth="+r.Header.Get("Authorization"))}
	})
	// And one that echoes it as a plain 400 body.
	plain := newService(t, func(r received) reply {
		return reply{status: 400, body: string(r.Raw) + " " + r.Header.Get("Authorization")}
	})
	for _, s := range []*service{echo, plain} {
		for _, typ := range []string{PasswordText, PasswordDigest} {
			c := newConnector(t, Config{
				URL: s.URL, Template: hearingTemplate,
				WSSE: &WSSE{Username: "clerk", Password: password, PasswordType: typ},
				Auth: &auth.Config{Bearer: token},
			})
			err := c.Deliver(context.Background(), delivery(hearing()))
			require.ErrorIs(t, err, connectors.ErrPermanent)
			msg := err.Error()
			require.NotContains(t, msg, password)
			require.NotContains(t, msg, "S3cret-Pass&amp;word")
			require.NotContains(t, msg, token)
		}
	}
	require.Equal(t, "Bearer "+token, echo.all()[0].Header.Get("Authorization"), "the token was sent")
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newConnector(t, Config{URL: url + "/ws", Template: hearingTemplate, Auth: &auth.Config{Bearer: "SECRET-TOKEN"}})
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "POST "+url+"/ws")
	require.NotContains(t, err.Error(), "SECRET")
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	c := newConnector(t, Config{URL: srv.URL, Template: hearingTemplate, Timeout: config.Duration(100 * time.Millisecond)})
	require.Equal(t, 100*time.Millisecond, c.Timeout())
	start := time.Now()
	err := c.Deliver(context.Background(), delivery(hearing()))
	require.Less(t, time.Since(start), 5*time.Second)
	require.EqualValues(t, 1, arrived.Load())
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "timed out")
}

func TestBadEventIDSendsNothing(t *testing.T) {
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate})
	for _, id := range []string{"", "evt\r\nX-Injected: 1"} {
		d := delivery(hearing())
		d.Event.ID = id
		err := c.Deliver(context.Background(), d)
		require.ErrorIs(t, err, connectors.ErrPermanent)
	}
	require.Empty(t, s.all())
}

// A token endpoint that refuses the client credentials makes the delivery
// permanent without reaching the service.
func TestOAuth2TokenRefusedIsPermanent(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		calls.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c, err := build(Config{URL: srv.URL + "/ws", Template: hearingTemplate, Auth: &auth.Config{OAuth2: &auth.OAuth2{
		TokenURL: srv.URL + "/token", ClientID: "id", ClientSecret: "CLIENT-SECRET",
	}}})
	if err != nil { // a block refused at start must not echo the secret either
		require.NotContains(t, err.Error(), "CLIENT-SECRET")
		return
	}
	t.Cleanup(func() { _ = c.Close() })
	err = c.Deliver(context.Background(), delivery(hearing()))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorIs(t, err, auth.ErrToken)
	require.NotContains(t, err.Error(), "CLIENT-SECRET")
	require.Zero(t, calls.Load())
}

func TestConcurrentDeliveriesWithWSSE(t *testing.T) {
	s := wsseService(t, "clerk", "pw-1234")
	c := newConnector(t, Config{URL: s.URL, Template: hearingTemplate, WSSE: &WSSE{Username: "clerk", Password: "pw-1234", PasswordType: PasswordDigest}})
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			body := hearing()
			body["case_reference"] = fmt.Sprintf("H-%d", i)
			errs <- c.Deliver(context.Background(), delivery(body))
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
	require.Len(t, s.all(), 16)
}
