package coherence_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
)

// hearings is a SOAP 1.1 service answering GetHearing by id: the hearing,
// a Client.NotFound fault for an id it never had, and an answer without
// a Hearing for one it has withdrawn.
type hearings struct {
	*httptest.Server
	mu        sync.Mutex
	records   map[string]map[string]string
	withdrawn map[string]bool
}

func newHearings(t *testing.T) *hearings {
	h := &hearings{records: map[string]map[string]string{}, withdrawn: map[string]bool{}}
	h.Server = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.Close)
	return h
}

func (h *hearings) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `xml:"Body>GetHearing>Id"`
	}
	if err := xml.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("SOAPAction") != `"urn:court/GetHearing"` {
		http.Error(w, "not a GetHearing request", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	rec, ok := h.records[req.ID]
	withdrawn := h.withdrawn[req.ID]
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	const env = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>%s</s:Body></s:Envelope>`
	switch {
	case withdrawn:
		_, _ = fmt.Fprintf(w, env, `<h:GetHearingResponse xmlns:h="urn:court"/>`)
	case !ok:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintf(w, env, `<s:Fault><faultcode>s:Client.NotFound</faultcode><faultstring>no hearing</faultstring></s:Fault>`)
	default:
		_, _ = fmt.Fprintf(w, env, `<h:GetHearingResponse xmlns:h="urn:court"><h:Hearing>`+
			`<h:CaseRef>`+rec["CaseRef"]+`</h:CaseRef><h:Name>`+rec["Name"]+`</h:Name>`+
			`<h:Courtroom>`+rec["Courtroom"]+`</h:Courtroom><h:Clerk>x</h:Clerk></h:Hearing></h:GetHearingResponse>`)
	}
}

func (h *hearings) set(id, field, v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.records[id] == nil {
		h.records[id] = map[string]string{}
	}
	h.records[id][field] = v
}

func soapConnector(t *testing.T, url string, read bool) *config.Connector {
	t.Helper()
	doc := fmt.Sprintf(`connectors:
  - name: court
    kind: soap
    subjects: [hms.workflow.updated]
    mapping: {id: CaseRef, name: Name, room: Courtroom}
    soap:
      url: %s
      action: urn:court/UpdateHearing
      template: <h:UpdateHearing xmlns:h="urn:court"><h:CaseRef>{{.CaseRef}}</h:CaseRef></h:UpdateHearing>
`, url)
	if read {
		doc += `      read:
        action: urn:court/GetHearing
        template: <h:GetHearing xmlns:h="urn:court"><h:Id>{{key}}</h:Id></h:GetHearing>
        record: GetHearingResponse/Hearing
        not_found_fault: Client.NotFound
`
	}
	f, err := config.Parse("c.yaml", []byte(doc), func(string) (string, bool) { return "", false }, nil)
	require.NoError(t, err)
	return &f.Connectors[0]
}

func newSOAPEnv(t *testing.T, h *hearings) *env {
	e := newBroker(t)
	e.conn = soapConnector(t, h.URL, true)
	conn, remote, err := coherence.Open(catalog.Default(), e.conn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	e.remote = remote
	return e
}

// deliverHearing delivers entity id: the service holds the mapped
// record, the state keeps it.
func (e *env) deliverHearing(t *testing.T, h *hearings, id, room string) {
	t.Helper()
	e.delivered(t, id, 1, map[string]any{"id": id, "version": 1, "name": "Attorney Rotation", "room": room})
	for field, v := range map[string]string{"CaseRef": id, "Name": "Attorney Rotation", "Courtroom": room} {
		h.set(id, field, v)
	}
}

func TestVerifyReadsSOAPRecordsBackThroughSoapRead(t *testing.T) {
	h := newHearings(t)
	e := newSOAPEnv(t, h)
	for _, id := range []string{"wf-1", "wf-2", "wf-3", "wf-4"} {
		e.deliverHearing(t, h, id, "4B")
	}
	h.set("wf-2", "Courtroom", "7A")
	h.mu.Lock()
	delete(h.records, "wf-3")
	h.withdrawn["wf-4"] = true
	h.mu.Unlock()

	res, err := e.checker().Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, [4]int{4, 1, 1, 2}, [4]int{res.Checked, res.InStep, res.Drifted, res.Missing})
	missing := []coherence.Field{{Field: "CaseRef", Extsync: "wf-3"}, {Field: "Courtroom", Extsync: "4B"},
		{Field: "Name", Extsync: "Attorney Rotation"}}
	require.Equal(t, []coherence.Entity{
		{Key: "wf-2", State: coherence.Drifted, Status: 200,
			Fields: []coherence.Field{{Field: "Courtroom", Extsync: "4B", System: "7A"}}},
		{Key: "wf-3", State: coherence.Missing, Status: 500, Fields: missing},
		{Key: "wf-4", State: coherence.Missing, Status: 200, Fields: withExtsync(missing, "CaseRef", "wf-4")},
	}, res.Entities)
	require.True(t, e.state(t, "wf-2").Drifted)
	require.False(t, e.state(t, "wf-1").Drifted)
}

func withExtsync(fields []coherence.Field, name string, v any) []coherence.Field {
	out := append([]coherence.Field(nil), fields...)
	for i := range out {
		if out[i].Field == name {
			out[i].Extsync = v
		}
	}
	return out
}

func TestVerifyRefusesSOAPWithoutSoapReadNamingIt(t *testing.T) {
	_, _, err := coherence.Open(catalog.Default(), soapConnector(t, "http://127.0.0.1:1/ws", false))
	var cannot *coherence.CannotReadBackError
	require.True(t, errors.As(err, &cannot), "%v", err)
	require.ErrorContains(t, err, "soap.read")
}

func TestVerifyOfASOAPServiceThatIsDownFails(t *testing.T) {
	h := newHearings(t)
	e := newSOAPEnv(t, h)
	e.deliverHearing(t, h, "wf-1", "4B")
	h.Close()
	res, err := e.checker().Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Contains(t, res.Entities[0].Error, "POST")
}
