package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target renders the URL an event goes to: base + "/events/{id}", or base
// itself when it already holds {id}.
func target(base string) string {
	if strings.Contains(base, "{id}") {
		return base
	}
	return strings.TrimSuffix(base, "/") + "/events/{id}"
}

// newTransport sizes the pool as the http connector does (one idle
// connection per worker), so both sides of the ratio reuse connections the
// same way.
func newTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(concurrency, 2) * 2
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// ceiling sends n PUTs with the bodies the connector would send, from
// concurrency goroutines sharing one keep-alive client, and returns how
// long they took. It is the most the pipeline could reach against this
// sink: HTTP only, no NATS, no decode, no sync log.
func ceiling(ctx context.Context, urlTemplate string, g *generator, n, concurrency int) (time.Duration, error) {
	tr := newTransport(concurrency)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	sent := time.Now() // the same for every body: the ceiling does not measure latency
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				id := eventID(phaseCeiling, i)
				req, err := http.NewRequestWithContext(ctx, http.MethodPut,
					strings.Replace(urlTemplate, "{id}", id, 1), bytes.NewReader(g.ceilingBody(id, sent)))
				if err != nil {
					fail(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("User-Agent", "extsync")
				req.Header.Set("Idempotency-Key", id)
				resp, err := client.Do(req)
				if err != nil {
					fail(fmt.Errorf("raw HTTP ceiling: %w", err))
					return
				}
				discard(resp.Body)
				if resp.StatusCode/100 != 2 {
					fail(fmt.Errorf("raw HTTP ceiling: PUT %s: %s", req.URL.Path, resp.Status))
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}
