package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/registry"
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
	names, docs, err := registry.Split([]byte(file))
	require.NoError(t, err)
	require.Equal(t, []string{"court", "clinic"}, names)
	require.Contains(t, string(docs["court"]), "${COURT_TOKEN}", "secrets stay in each instance's environment")
	c, err := registry.Load(registry.Entry{Name: "court", Doc: docs["court"]},
		func(k string) (string, bool) { return "tok-" + k, true }, nil)
	require.NoError(t, err)
	require.Equal(t, "court", c.Name)
	_, err = registry.Load(registry.Entry{Name: "court", Doc: docs["court"]},
		func(string) (string, bool) { return "", false }, nil)
	require.ErrorContains(t, err, "extsync_connectors/court")
	require.ErrorContains(t, err, "${COURT_TOKEN} is not set")
}

func TestPutListRemoveWatch(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := registry.Open(ctx, js, 1)
	require.NoError(t, err)
	_, docs, err := registry.Split([]byte(file))
	require.NoError(t, err)
	require.NoError(t, reg.Put(ctx, docs))
	first, err := reg.List(ctx)
	require.NoError(t, err)
	require.Len(t, first, 2)
	require.NoError(t, reg.Put(ctx, docs))
	again, err := reg.List(ctx)
	require.NoError(t, err)
	require.Equal(t, first[0].Revision, again[0].Revision, "an unchanged apply writes nothing, restarts nothing")

	type change struct {
		name    string
		removed bool
	}
	changes := make(chan change, 10)
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		_ = reg.Watch(watchCtx, func(e registry.Entry, removed bool) { changes <- change{e.Name, removed} })
	}()
	require.ElementsMatch(t, []change{{"clinic", false}, {"court", false}}, []change{<-changes, <-changes},
		"the current entries first")
	require.NoError(t, reg.Remove(ctx, "clinic"))
	require.Equal(t, change{"clinic", true}, <-changes)
	err = reg.Remove(ctx, "clinic")
	require.ErrorIs(t, err, registry.ErrUnknown)
	require.True(t, strings.Contains(err.Error(), `"clinic"`))
}
