package soap_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/connectors/soap"
	"github.com/hms/extsync/pkg/config"
)

func newSOAP(t *testing.T, url, version string) connectors.Connector {
	t.Helper()
	doc := fmt.Sprintf(`connectors:
  - name: c
    kind: soap
    subjects: [hms.x]
    soap:
      url: %q
      version: %q
      action: urn:wf/Update
      timeout: 2s
      template: |
        <wf:Update xmlns:wf="urn:wf">
          <wf:Id>{{required "id" .id}}</wf:Id>
          <wf:Version>{{.version}}</wf:Version>
          <wf:Name>{{.name}}</wf:Name>
        </wf:Update>
`, url, version)
	f, err := config.Parse("suite.yaml", []byte(doc), nil, nil)
	require.NoError(t, err)
	c, err := soap.Factory{}.New(connectors.Spec{Name: "c", Concurrency: 4, Decode: f.Connectors[0].Decode})
	require.NoError(t, err)
	return c
}

// update is what the service reads from each envelope.
type update struct {
	XMLName xml.Name
	Body    struct {
		Update struct {
			ID string `xml:"urn:wf Id"`
		} `xml:"urn:wf Update"`
	} `xml:"Body"`
}

func TestSuite(t *testing.T) {
	for _, version := range []string{"1.1", "1.2"} {
		t.Run(version, func(t *testing.T) {
			ns := map[string]string{"1.1": soap.NS11, "1.2": soap.NS12}[version]
			var mu sync.Mutex
			var got []string
			ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				raw, _ := io.ReadAll(r.Body)
				var env update
				if err := xml.NewDecoder(bytes.NewReader(raw)).Decode(&env); err != nil || env.XMLName.Space != ns || env.Body.Update.ID == "" {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				mu.Lock()
				got = append(got, env.Body.Update.ID)
				mu.Unlock()
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				_, _ = fmt.Fprintf(w, `<s:Envelope xmlns:s=%q><s:Body><wf:UpdateResponse xmlns:wf="urn:wf"/></s:Body></s:Envelope>`, ns)
			}))
			t.Cleanup(ok.Close)

			// A service refusing every request with a Client (1.1) or
			// Sender (1.2) fault.
			fault := map[string]string{
				"1.1": `<s:Envelope xmlns:s="` + soap.NS11 + `"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>start_time is required</faultstring></s:Fault></s:Body></s:Envelope>`,
				"1.2": `<s:Envelope xmlns:s="` + soap.NS12 + `"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en">start_time is required</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`,
			}[version]
			bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, fault)
			}))
			t.Cleanup(bad.Close)

			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			down := "http://" + l.Addr().String()
			require.NoError(t, l.Close())

			connectortest.Run(t, connectortest.Harness{
				New:            func(t *testing.T) connectors.Connector { return newSOAP(t, ok.URL, version) },
				NewUnreachable: func(t *testing.T) connectors.Connector { return newSOAP(t, down, version) },
				Rejecting:      func(t *testing.T) connectors.Connector { return newSOAP(t, bad.URL, version) },
				Received: func(*testing.T) []string {
					mu.Lock()
					defer mu.Unlock()
					return append([]string(nil), got...)
				},
			})
		})
	}
}
