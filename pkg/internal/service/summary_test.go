package service_test

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/service"
)

var summaryLine = regexp.MustCompile(`level=INFO msg="connector summary" connector=court every=\S+ delivered=(\d+) retried=(\d+) dead_lettered=(\d+) lag=(\d+)`)

// TestServeLogsASummaryPerConnector checks the info-level line each
// connector gets every interval: what was delivered, retried and
// dead-lettered in it, and the lag now.
func TestServeLogsASummaryPerConnector(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	court := newSink(t, nil)
	_, sources, err := connstore.Split([]byte(doc("court", "hms.workflow.updated", court.URL)))
	require.NoError(t, err)
	log := &logBuffer{}
	s := config.Settings{NATSURL: ns.ClientURL(), Stream: "HMS_EVENTS", Replicas: 1, LogMaxAge: time.Hour, Drain: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.Start(ctx, s, nil, service.Options{
		Kinds: catalog.Default(), Logger: slog.New(slog.NewTextHandler(log, nil)),
		Sources: sources, Env: noEnv, Check: checkKinds, SummaryEvery: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	publish(t, js, "hms.workflow.updated", "wf-1")
	publish(t, js, "hms.workflow.updated", "wf-2")
	require.Eventually(t, func() bool {
		delivered := 0
		for _, l := range log.lines(`msg="connector summary"`) {
			if m := summaryLine.FindStringSubmatch(l); m != nil {
				n, _ := strconv.Atoi(m[1])
				delivered += n
			}
		}
		return delivered == 2
	}, 20*time.Second, 10*time.Millisecond, log.String())
}
