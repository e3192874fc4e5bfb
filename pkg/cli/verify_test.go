package cli_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/cli"
)

// Bad requests are refused with exit 2 before anything is read.
func TestVerifyRefusesBadRequestsWithUsage(t *testing.T) {
	t.Setenv("EXTSYNC_NATS_URL", "nats://127.0.0.1:1") // never reached
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for args, want := range map[string][]string{
		"no selection":        {"verify", "court"},
		"entity and all":      {"verify", "court", "--entity", "wf-1", "--all"},
		"entity and sample":   {"verify", "court", "--entity", "wf-1", "--sample", "5%"},
		"sample out of range": {"verify", "court", "--sample", "0%"},
		"bad rate":            {"verify", "court", "--all", "--rate", "fast"},
		"no name":             {"verify", "--all"},
	} {
		var out, errb bytes.Buffer
		code := cli.Run(ctx, want, &out, &errb)
		require.Equal(t, 2, code, "%s: %s", args, errb.String())
		require.Empty(t, out.String(), args)
	}
}
