package test

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// faultRow is one line of README.md's fault table.
type faultRow struct {
	Fault, Injection string
	Published        int
	// Delivered counts distinct events the system confirmed; Superseded
	// the older versions skipped because a newer one was delivered.
	Delivered, Superseded, Duplicated, DeadLettered, Lost int
	Note                                                  string
}

var reportMu sync.Mutex

// reportFault logs the row (and appends it to $EXTSYNC_FAULT_TABLE when
// set, to rebuild the README table) and fails the test if anything was
// lost.
func reportFault(t *testing.T, r faultRow) {
	t.Helper()
	line := fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | **%d** | %s |",
		r.Fault, r.Injection, r.Published, r.Delivered, r.Superseded, r.Duplicated, r.DeadLettered, r.Lost, r.Note)
	t.Log("FAULT " + line)
	if p := os.Getenv("EXTSYNC_FAULT_TABLE"); p != "" {
		reportMu.Lock()
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = fmt.Fprintln(f, line)
			_ = f.Close()
		}
		reportMu.Unlock()
	}
	require.Zero(t, r.Lost, "events lost")
	require.Equal(t, r.Published, r.Delivered+r.Superseded+r.DeadLettered+r.Lost, "every event accounted for")
}
