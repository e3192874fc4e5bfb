package connectors

import (
	"context"
	"time"
)

// Bound gives ctx a connector's timeout unless it already ends as soon.
// HTTP kinds bound each request this way instead of with http.Client's
// Timeout, which arms a second timer (and its cancel machinery) for every
// request even though the pipeline always calls under its own deadline; a
// direct caller with no deadline is still bounded.
func Bound(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= timeout {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}
