package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/synclog"
)

// checkKinds validates kind blocks by building the connector, as serve.
func checkKinds(c *config.Connector) error {
	conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
	if err != nil {
		return err
	}
	return conn.Close()
}

func send(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

const courtDoc = `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http:
      url: http://court.example/{id}
      headers: {Authorization: "Bearer ${COURT_TOKEN}"}
`

func TestPutAndDeleteConnectors(t *testing.T) {
	srv := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, srv)
	brokertest.Provision(t, js)
	s, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: "tok", Ready: func(context.Context) error { return nil }})
	require.NoError(t, err)
	s.MountConnectorStore(admin.StoreOps{JS: js, Replicas: 1, Check: checkKinds,
		Env: func(string) (string, bool) { return "", false }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	url := "http://" + s.Addr() + "/api/v1/connectors/court"

	code, _ := send(t, "PUT", url, "", courtDoc)
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = send(t, "DELETE", url, "Bearer nope", "")
	require.Equal(t, http.StatusUnauthorized, code)

	code, body := send(t, "PUT", url, "bearer tok", courtDoc)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"name":"court","revision":1,"changed":true,"unset_variables":["COURT_TOKEN"]}`, body)
	code, body = send(t, "PUT", url, "Bearer tok", courtDoc)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"name":"court","revision":1,"changed":false,"unset_variables":["COURT_TOKEN"]}`, body)

	kvCtx, kvCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer kvCancel()
	kv, err := js.KeyValue(kvCtx, connstore.Bucket)
	require.NoError(t, err)
	stored, err := kv.Get(kvCtx, "court")
	require.NoError(t, err)
	require.Contains(t, string(stored.Value()), "${COURT_TOKEN}", "stored unexpanded")

	code, body = send(t, "PUT", strings.Replace(url, "court", "clinic", 1), "Bearer tok", courtDoc)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, `one connector, named \"clinic\"; it names [\"court\"]`)
	code, body = send(t, "PUT", url, "Bearer tok", strings.Replace(courtDoc, "kind: http", "kind: ftp", 1))
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, body, "request body:3:11: connectors[0].kind:", "file, line and field, as serve says it")
	require.Contains(t, body, "ftp")

	code, body = send(t, "PUT", strings.Replace(url, "court", "clinic", 1), "Bearer tok",
		`{"connectors": [{"name": "clinic", "kind": "http", "subjects": ["hms.scheduling.updated"],
		  "http": {"url": "http://clinic.example/{id}"}}]}`)
	require.Equal(t, http.StatusOK, code, "JSON is a connectors document too: %s", body)
	require.JSONEq(t, `{"name":"clinic","revision":2,"changed":true}`, body)

	code, body = send(t, "DELETE", strings.Replace(url, "court", "nope", 1), "Bearer tok", "")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, `no such connector \"nope\"`)
	code, body = send(t, "DELETE", url, "Bearer tok", "")
	require.Equal(t, http.StatusOK, code, body)
	_, err = kv.Get(kvCtx, "court")
	require.Error(t, err, "removed")

	var recs []synclog.Record
	for _, m := range brokertest.Messages(t, js, synclog.Stream, "") {
		var r synclog.Record
		require.NoError(t, json.Unmarshal(m.Data, &r))
		recs = append(recs, r)
	}
	require.Len(t, recs, 3, "two applies that changed something, one rm; refusals change and record nothing")
	require.Equal(t, []string{"connectors apply", "connectors apply", "connectors rm"},
		[]string{recs[0].Action, recs[1].Action, recs[2].Action})
	require.Equal(t, []string{"court", "clinic", "court"}, []string{recs[0].Connector, recs[1].Connector, recs[2].Connector})
	for _, r := range recs {
		require.Equal(t, 1, r.Count)
		require.Equal(t, "api(token)@127.0.0.1", r.Actor)
	}
}
