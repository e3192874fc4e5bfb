package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
)

// TestManualConflictStartsWithoutWarning starts a connector with
// `conflict: {strategy: manual}` and checks the log raises no warning
// about the strategy: manual is supported (conflicts are parked on
// EXTSYNC_CONFLICTS), not "not available in this version".
func TestManualConflictStartsWithoutWarning(t *testing.T) {
	ns := brokertest.RunServer(t)
	court := newSink(t, nil)
	in := startInstance(t, ns, doc("court", "hms.workflow.updated", court.URL, "    conflict: {strategy: manual}\n"), noEnv)
	require.Eventually(t, func() bool {
		st, ok := in.status("court")
		return ok && st.Running
	}, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, in.svc.Ready(context.Background()))
	log := in.log.String()
	require.NotContains(t, log, "not available")
	require.NotContains(t, strings.ToLower(log), "this version")
	require.Empty(t, in.log.lines("level=WARN"), log)
	require.Empty(t, in.log.lines("level=ERROR"), log)
}
