//go:build fault

package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain runs the tests and then, with EXTSYNC_FAULT_TABLE_UPDATE=1 and
// every test passed, rewrites the fault table in docs/durability.md from
// the rows this run reported (see rewriteFaultTable).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv("EXTSYNC_FAULT_TABLE_UPDATE") == "1" {
		if err := updateFaultTable(filepath.Join("..", "docs", "durability.md"), reportedRows()); err != nil {
			fmt.Fprintln(os.Stderr, "fault table:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// updateFaultTable rewrites the table in the file at path.
func updateFaultTable(path string, rows []faultRow) error {
	if len(rows) == 0 {
		return nil
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := rewriteFaultTable(string(doc), rows)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o600)
}

// reportedRows returns the rows reported so far, in order.
func reportedRows() []faultRow {
	reportMu.Lock()
	defer reportMu.Unlock()
	return append([]faultRow(nil), reported...)
}
