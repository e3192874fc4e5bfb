package test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// faultRow is one line of the fault table in docs/durability.md.
type faultRow struct {
	Fault, Injection string
	Published        int
	// Delivered counts distinct events the system confirmed; Superseded
	// the older versions skipped because a newer one was delivered.
	Delivered, Superseded, Duplicated, DeadLettered, Lost int
	Note                                                  string
}

// line is the row as markdown.
func (r faultRow) line() string {
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | **%d** | %s |",
		r.Fault, r.Injection, r.Published, r.Delivered, r.Superseded, r.Duplicated, r.DeadLettered, r.Lost, r.Note)
}

var (
	reportMu sync.Mutex
	// reported holds every row of this run, for the fault table update
	// (fault_table_test.go).
	reported []faultRow
)

// reportFault logs the row (and appends it to $EXTSYNC_FAULT_TABLE when
// set), keeps it for the fault table update, and fails the test if
// anything was lost.
func reportFault(t *testing.T, r faultRow) {
	t.Helper()
	line := r.line()
	t.Log("FAULT " + line)
	reportMu.Lock()
	reported = append(reported, r)
	if p := os.Getenv("EXTSYNC_FAULT_TABLE"); p != "" {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = fmt.Fprintln(f, line)
			_ = f.Close()
		}
	}
	reportMu.Unlock()
	require.Zero(t, r.Lost, "events lost")
	require.Equal(t, r.Published, r.Delivered+r.Superseded+r.DeadLettered+r.Lost, "every event accounted for")
}

// The fault table in docs/durability.md sits between these markers.
const (
	faultTableBegin = "<!-- fault-table:begin -->"
	faultTableEnd   = "<!-- fault-table:end -->"
	// faultDefaultMark follows the name of a fault whose test is in the
	// normal run; a rewrite keeps it.
	faultDefaultMark = " (*default*)"
)

// rewriteFaultTable replaces, in doc, each table row whose fault was
// reported in rows by the new figures (keeping a default mark), keeps the
// rows of faults not reported, and adds rows for new faults at the end.
func rewriteFaultTable(doc string, rows []faultRow) (string, error) {
	begin := strings.Index(doc, faultTableBegin)
	end := strings.Index(doc, faultTableEnd)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("no %s ... %s markers", faultTableBegin, faultTableEnd)
	}
	from := begin + len(faultTableBegin)
	fresh := map[string]string{}
	var order []string
	for _, r := range rows {
		if _, ok := fresh[r.Fault]; !ok {
			order = append(order, r.Fault)
		}
		fresh[r.Fault] = r.line()
	}
	var out []string
	done := map[string]bool{}
	for _, l := range strings.Split(strings.Trim(doc[from:end], "\n"), "\n") {
		name, ok := faultRowName(l)
		base := strings.TrimSuffix(name, faultDefaultMark)
		nl, reportedNow := fresh[base]
		if !ok || !reportedNow {
			out = append(out, l)
			continue
		}
		if base != name {
			nl = "| " + name + strings.TrimPrefix(nl, "| "+base)
		}
		out = append(out, nl)
		done[base] = true
	}
	for _, f := range order {
		if !done[f] {
			out = append(out, fresh[f])
		}
	}
	return doc[:from] + "\n" + strings.Join(out, "\n") + "\n" + doc[end:], nil
}

// faultRowName is a table row's first cell; false for the header, the
// separator and anything that is not a row.
func faultRowName(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "| ")
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, " | ")
	if !ok || name == "fault" {
		return "", false
	}
	return name, true
}
