package demo

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	publishLine = regexp.MustCompile(`^   publish  \S+  event (\S+)`)
	courtLine   = regexp.MustCompile(`^   court    (PUT|POST|GET) \S+  Idempotency-Key: (\S+)`)
)

// TestStepsPrintInOrder runs the demo several times and checks that each
// step reads top to bottom: its title, then its publish line, then what
// the court did with the event, never the court's answer first. After
// the first run the pipeline is let to settle each event before the step
// is narrated, the interleaving a fast court makes likely.
func TestStepsPrintInOrder(t *testing.T) {
	t.Cleanup(func() { afterPublish = func(context.Context, *waiter, string) {} })
	for run := range 3 {
		if run > 0 {
			afterPublish = func(ctx context.Context, w *waiter, id string) { _ = w.await(ctx, id, 15*time.Second) }
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		require.NoError(t, Run(ctx, &out), "run %d", run)
		cancel()
		lines := strings.Split(out.String(), "\n")
		published := map[string]int{}
		last := -1
		for n := 1; n <= len(steps); n++ {
			head := fmt.Sprintf("%d. %s", n, steps[n-1].title)
			i := indexOf(lines, head)
			require.Greater(t, i, last, "run %d: step %d's title %q missing or out of order:\n%s", run, n, head, out.String())
			last = i
			m := publishLine.FindStringSubmatch(lines[i+1])
			require.NotNil(t, m, "run %d, step %d: the line after the title is %q, not its publish line:\n%s",
				run, n, lines[i+1], out.String())
			published[m[1]] = i + 1
		}
		for i, l := range lines {
			if m := courtLine.FindStringSubmatch(l); m != nil {
				at, ok := published[m[2]]
				require.True(t, ok && at < i, "run %d: the court's line %d (%q) comes before its event's publish line:\n%s",
					run, i, l, out.String())
			}
		}
	}
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}
