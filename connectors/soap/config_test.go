package soap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/pkg/config"
)

const okURL = "https://court.example/ws/hearings"

func TestNewDefaults(t *testing.T) {
	c := newConnector(t, Config{URL: okURL, Template: hearingTemplate})
	require.Equal(t, 10*time.Second, c.Timeout())
	require.Equal(t, NS11, c.ns)
	require.Equal(t, "text/xml; charset=utf-8", c.header.Get("Content-Type"))
	require.NoError(t, c.Close())
}

func TestNewPropagatesDecodeErrors(t *testing.T) {
	want := errors.New("c.yaml:7:7: connectors[0].soap.bogus: unknown field")
	_, err := Factory{}.New(connectors.Spec{Name: "c", Decode: func(any) error { return want }})
	require.ErrorIs(t, err, want)
}

func TestNewValidatesConfig(t *testing.T) {
	const tmpl = `<a>{{.x}}</a>`
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing url", Config{Template: tmpl}, "soap.url is required"},
		{"relative url", Config{URL: "/ws", Template: tmpl}, "absolute http:// or https:// URL"},
		{"other scheme", Config{URL: "ftp://court.example/ws", Template: tmpl}, "absolute http:// or https:// URL"},
		{"bad version", Config{URL: okURL, Version: "1.3", Template: tmpl}, `soap.version "1.3": want "1.1" or "1.2"`},
		{"version 2", Config{URL: okURL, Version: "2", Template: tmpl}, `soap.version "2"`},
		{"action with a quote", Config{URL: okURL, Action: `urn:a"b`, Template: tmpl}, "soap.action cannot contain quotes"},
		{"action with a newline", Config{URL: okURL, Action: "urn:a\r\nX: y", Template: tmpl}, "soap.action cannot contain"},
		{"no template", Config{URL: okURL}, "soap.template (or template_file) is required"},
		{"both templates", Config{URL: okURL, Template: tmpl, TemplateFile: "body.xml"}, "soap: set template or template_file, not both"},
		{"template parse error", Config{URL: okURL, Template: "<a>\n<b>{{.x}</b>\n</a>"}, "soap.template line 2: bad character U+007D '}'"},
		{"unknown function", Config{URL: okURL, Template: "<a>\n\n{{raw .x}}</a>"}, `soap.template line 3: function "raw" not defined`},
		{"unclosed action", Config{URL: okURL, Template: "<a>\n{{if .x}}</a>"}, "soap.template line 2: unexpected EOF"},
		{"unclosed element", Config{URL: okURL, Template: "<a>\n  <b>{{.x}}\n</a>"}, "soap.template is not well-formed XML: line 3"},
		{"bad markup", Config{URL: okURL, Template: "<a>\n<b x=1/></a>"}, "soap.template is not well-formed XML: line 2"},
		{"whole envelope", Config{URL: okURL, Template: `<soap:Envelope xmlns:soap="` + NS11 + `"><soap:Body/></soap:Envelope>`}, "only the content of soap:Body"},
		{"xml declaration", Config{URL: okURL, Template: `<?xml version="1.0"?><a/>`}, "XML declaration"},
		{"doctype", Config{URL: okURL, Template: `<!DOCTYPE a><a/>`}, "DOCTYPE"},
		{"reserved header", Config{URL: okURL, Template: tmpl, Headers: map[string]string{"soapaction": "x"}}, "SOAPAction is set by the connector"},
		{"content type header", Config{URL: okURL, Template: tmpl, Headers: map[string]string{"Content-Type": "x"}}, "Content-Type is set by the connector"},
		{"bad header name", Config{URL: okURL, Template: tmpl, Headers: map[string]string{"X Tenant": "v"}}, `"X Tenant" is not a valid header name`},
		{"negative timeout", Config{URL: okURL, Template: tmpl, Timeout: config.Duration(-time.Second)}, "soap.timeout must be positive"},
		{"wsse without username", Config{URL: okURL, Template: tmpl, WSSE: &WSSE{Password: "p"}}, "soap.wsse.username is required"},
		{"wsse without password", Config{URL: okURL, Template: tmpl, WSSE: &WSSE{Username: "u"}}, "soap.wsse.password is required"},
		{"wsse bad type", Config{URL: okURL, Template: tmpl, WSSE: &WSSE{Username: "u", Password: "p", PasswordType: "PasswordDigest"}}, `soap.wsse.password_type "PasswordDigest": want text or digest`},
		{"two auth kinds", Config{URL: okURL, Template: tmpl, Auth: &auth.Config{Bearer: "t", Basic: &auth.BasicAuth{User: "u"}}}, "soap.auth: set only one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := build(tt.cfg)
			require.Nil(t, c)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestTemplateWithRequiredFieldsPassesTheStartCheck(t *testing.T) {
	newConnector(t, Config{URL: okURL, Template: `<a>{{required "x" .x}}</a>`})
}

func TestNewErrorsNeverEchoSecrets(t *testing.T) {
	for _, cfg := range []Config{
		{URL: okURL, Version: "9", Template: "<a/>", WSSE: &WSSE{Username: "u", Password: "SECRET"}, Auth: &auth.Config{Bearer: "SECRET"}},
		{URL: okURL, Template: "<a/>", WSSE: &WSSE{Username: "u", Password: "SECRET", PasswordType: "SECRET"}},
		{URL: okURL, Template: "<a/>", Headers: map[string]string{"Authorization": "Bearer SECRET\n"}},
		{URL: okURL, Template: "<a/>", Auth: &auth.Config{Bearer: "SECRET", Basic: &auth.BasicAuth{Password: "SECRET"}}},
		{URL: okURL, Template: "<a/>", Auth: &auth.Config{Bearer: "SECRET\r\nX: 1"}},
	} {
		_, err := build(cfg)
		require.Error(t, err)
		require.NotContains(t, strings.ReplaceAll(err.Error(), "password_type \"SECRET\"", ""), "SECRET")
	}
}

func TestTemplateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "update-hearing.xml")
	require.NoError(t, os.WriteFile(path, []byte(hearingTemplate), 0o600))
	s := ok(t)
	c := newConnector(t, Config{URL: s.URL, TemplateFile: path})
	require.NoError(t, c.Deliver(context.Background(), delivery(hearing())))
	require.Equal(t, "H-77", s.only(t).Env.Body.Update.CaseRef)

	bad := filepath.Join(dir, "bad.xml")
	require.NoError(t, os.WriteFile(bad, []byte("<a>\n{{.x | nofunc}}\n</a>"), 0o600))
	_, err := build(Config{URL: s.URL, TemplateFile: bad})
	require.ErrorContains(t, err, "soap.template_file "+bad+" line 2:")

	_, err = build(Config{URL: s.URL, TemplateFile: filepath.Join(dir, "missing.xml")})
	require.ErrorContains(t, err, "soap.template_file:")
	require.ErrorContains(t, err, "missing.xml")

	empty := filepath.Join(dir, "empty.xml")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	_, err = build(Config{URL: s.URL, TemplateFile: empty})
	require.ErrorContains(t, err, "is empty")
}

// fromYAML builds a connector from a connectors file the way extsync
// loads one.
func fromYAML(t *testing.T, doc string, env map[string]string) (connectors.Connector, error) {
	t.Helper()
	f, err := config.Parse("connectors.yaml", []byte(doc), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, nil)
	require.NoError(t, err)
	return Factory{}.New(connectors.Spec{Name: f.Connectors[0].Name, Concurrency: 4, Decode: f.Connectors[0].Decode})
}

func TestYAMLBlock(t *testing.T) {
	s := wsseService(t, "clerk", "pw")
	doc := `connectors:
  - name: court-soap
    kind: soap
    subjects: [hms.workflow.updated]
    soap:
      url: ` + s.URL + `/ws
      version: 1.2
      action: urn:court/UpdateHearing
      timeout: 5s
      headers: {X-Tenant: hms}
      wsse: {username: clerk, password: "${PW}", password_type: digest}
      template: |
        <sch:UpdateHearing xmlns:sch="urn:court">
          <sch:CaseRef>{{.case_reference}}</sch:CaseRef>
        </sch:UpdateHearing>
`
	c, err := fromYAML(t, doc, map[string]string{"PW": "pw"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.Equal(t, 5*time.Second, c.Timeout())
	require.NoError(t, c.Deliver(context.Background(), delivery(map[string]any{"case_reference": "H-1"})))
	r := s.only(t)
	require.Equal(t, NS12, r.Env.XMLName.Space)
	require.Equal(t, "H-1", r.Env.Body.Update.CaseRef)
	require.Equal(t, "hms", r.Header.Get("X-Tenant"))

	_, err = fromYAML(t, strings.Replace(doc, "timeout: 5s", "timeout: 5s\n      bogus: 1", 1), map[string]string{"PW": "pw"})
	require.ErrorContains(t, err, "bogus")
}

// The README's example blocks must build; the one of reading back reads.
func TestREADMEExamplesBuild(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(connectors:.*?)```").FindAllSubmatch(readme, -1)
	require.Len(t, blocks, 2, "README.md has the block and the block of reading back")
	env := map[string]string{"COURT_SOAP_USER": "clerk", "COURT_SOAP_PASSWORD": "pw"}
	for i, m := range blocks {
		c, err := fromYAML(t, string(m[1]), env)
		require.NoError(t, err)
		_, reads := c.(connectors.Remote)
		require.Equal(t, i == 1, reads, "block %d", i)
		require.NoError(t, c.Close())
	}
}
