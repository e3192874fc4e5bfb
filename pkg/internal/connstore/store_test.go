package connstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/synclog"
)

const file = `connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    http:
      url: https://court.example/{id}
      headers: {Authorization: "Bearer ${COURT_TOKEN}"}
  - name: clinic
    kind: http
    subjects: [hms.scheduling.updated]
    http: {url: "https://clinic.example/{id}"}
`

func TestSplitKeepsVariablesUnexpanded(t *testing.T) {
	names, docs, err := connstore.Split([]byte(file))
	require.NoError(t, err)
	require.Equal(t, []string{"court", "clinic"}, names)
	require.Contains(t, string(docs["court"]), "${COURT_TOKEN}", "secrets stay in each instance's environment")
	c, err := connstore.Load(connstore.Entry{Name: "court", Doc: docs["court"]},
		func(k string) (string, bool) { return "tok-" + k, true }, nil)
	require.NoError(t, err)
	require.Equal(t, "court", c.Name)
	_, err = connstore.Load(connstore.Entry{Name: "court", Doc: docs["court"]},
		func(string) (string, bool) { return "", false }, nil)
	require.ErrorContains(t, err, "extsync_connectors/court")
	require.ErrorContains(t, err, "${COURT_TOKEN} is not set")
}

func TestPutListRemoveWatch(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	brokertest.Provision(t, js)
	reg, err := connstore.Open(ctx, js, 1)
	require.NoError(t, err)
	names, docs, err := connstore.Split([]byte(file))
	require.NoError(t, err)
	changes, err := reg.Apply(ctx, js, names, docs, "cli:alice@ops-1")
	require.NoError(t, err)
	require.Equal(t, []connstore.Change{{Name: "court", Revision: 1, Changed: true}, {Name: "clinic", Revision: 2, Changed: true}}, changes)
	first, err := reg.List(ctx)
	require.NoError(t, err)
	require.Len(t, first, 2)
	changes, err = reg.Apply(ctx, js, names, docs, "cli:alice@ops-1")
	require.NoError(t, err)
	require.Equal(t, []connstore.Change{{Name: "court", Revision: 1}, {Name: "clinic", Revision: 2}}, changes)
	again, err := reg.List(ctx)
	require.NoError(t, err)
	require.Equal(t, first[0].Revision, again[0].Revision, "an unchanged apply writes nothing, restarts nothing")
	require.Len(t, audits(t, js), 2, "only the connectors an apply changed are recorded")

	type change struct {
		name    string
		removed bool
	}
	seen := make(chan change, 10)
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = reg.Watch(watchCtx, func(e connstore.Entry, removed bool) { seen <- change{e.Name, removed} })
	}()
	require.ElementsMatch(t, []change{{"clinic", false}, {"court", false}}, []change{<-seen, <-seen},
		"the current entries first")
	require.NoError(t, reg.Delete(ctx, js, "clinic", "api(token)@10.0.0.7"))
	require.Equal(t, change{"clinic", true}, <-seen)
	err = reg.Delete(ctx, js, "clinic", "api(token)@10.0.0.7")
	require.ErrorIs(t, err, connstore.ErrUnknown)
	require.True(t, strings.Contains(err.Error(), `"clinic"`))

	recs := audits(t, js)
	require.Len(t, recs, 3, "a failed rm records nothing")
	require.Equal(t, synclog.Record{Time: recs[2].Time, Connector: "clinic", Outcome: synclog.OutcomeAdmin,
		Actor: "api(token)@10.0.0.7", Action: "connectors rm", Count: 1}, recs[2])
	require.Equal(t, "court", recs[0].Connector)
	require.Equal(t, "connectors apply", recs[0].Action)
	require.Equal(t, "cli:alice@ops-1", recs[0].Actor)
}

func TestPrepareValidatesAsServeDoes(t *testing.T) {
	env := &config.LenientEnv{Env: func(string) (string, bool) { return "", false }}
	names, docs, err := connstore.Prepare("court.yaml", []byte(file), env.Lookup, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"court", "clinic"}, names)
	require.Contains(t, string(docs["court"]), "${COURT_TOKEN}")
	require.Equal(t, []string{"COURT_TOKEN"}, env.Unset())

	_, _, err = connstore.Prepare("bad.yaml", []byte("connectors:\n  - name: court\n    kind: http\n    subjects: [hms.x]\n    http: {url: \"http://x/{id}\"}\n    retry: {initial: soon}\n"), nil, nil)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "bad.yaml:6:")
	require.ErrorContains(t, err, "retry.initial")
}

// audits returns the admin records of the sync log, oldest first.
func audits(t *testing.T, js jetstream.JetStream) []synclog.Record {
	t.Helper()
	var out []synclog.Record
	for _, m := range brokertest.Messages(t, js, synclog.Stream, "") {
		var r synclog.Record
		require.NoError(t, json.Unmarshal(m.Data, &r))
		if r.Outcome == synclog.OutcomeAdmin {
			out = append(out, r)
		}
	}
	return out
}
