//go:build fault || perf

package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	plainOnce sync.Once
	plainPath string
	plainErr  error
)

// plainBinary builds cmd/extsync without the race detector, for load and
// scale tests: they measure extsync, not the detector.
func plainBinary(t *testing.T) string {
	t.Helper()
	plainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "extsync-plain-")
		if err != nil {
			plainErr = err
			return
		}
		plainPath = filepath.Join(dir, "extsync")
		if out, err := exec.Command("go", "build", "-o", plainPath, "../cmd/extsync").CombinedOutput(); err != nil {
			plainErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, plainErr)
	return plainPath
}
