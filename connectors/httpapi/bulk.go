package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
)

// errNoBulk is the answer of a connector without a bulk block.
var errNoBulk = errors.New("http.bulk is not configured: mode batch needs http.bulk.url")

// bulkResponse is the optional per-item answer of a bulk endpoint:
// {"items": [{"status": 200}, {"status": 422, "error": "..."}]}, one
// entry per event in the order sent.
type bulkResponse struct {
	Items []struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	} `json:"items"`
}

// DeliverBatch implements connectors.BatchConnector: one request with
// every mapped event, as a JSON array or NDJSON. Its Idempotency-Key is a
// hash of the batch's event ids, the same when the batch is retried.
//
// A bulk body cannot say "delete": the batch's deletions are sent after
// it, each as its own request (see Delete), and a failed one is that
// item's failure alone.
func (c *Connector) DeliverBatch(ctx context.Context, ds []*connectors.Delivery) error {
	var writes, dels []int
	for i, d := range ds {
		if d.Delete {
			dels = append(dels, i)
		} else {
			writes = append(writes, i)
		}
	}
	if len(dels) == 0 {
		return c.bulk(ctx, ds)
	}
	failed := map[int]error{}
	if len(writes) > 0 {
		sub := make([]*connectors.Delivery, len(writes))
		for k, i := range writes {
			sub[k] = ds[i]
		}
		var be *connectors.BatchError
		switch err := c.bulk(ctx, sub); {
		case errors.As(err, &be):
			for k, e := range be.Failed {
				failed[writes[k]] = e
			}
		case err != nil:
			return err // nothing applied: the whole batch goes again
		}
	}
	for i, err := range c.deleteEach(ctx, ds, dels) {
		failed[i] = err
	}
	if len(failed) > 0 {
		return &connectors.BatchError{Failed: failed}
	}
	return nil
}

// deleteEach sends the deletions ds[idx], a few at a time, and returns
// the failures by index.
func (c *Connector) deleteEach(ctx context.Context, ds []*connectors.Delivery, idx []int) map[int]error {
	const parallel = 8
	var mu sync.Mutex
	failed := map[int]error{}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, i := range idx {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.Delete(ctx, ds[i]); err != nil {
				mu.Lock()
				failed[i] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// bulk sends ds as one bulk request.
func (c *Connector) bulk(ctx context.Context, ds []*connectors.Delivery) error {
	ctx, cancel := connectors.Bound(ctx, c.Timeout())
	defer cancel()
	if c.cfg.Bulk == nil {
		return connectors.PermanentError(0, errNoBulk)
	}
	body, key, err := c.bulkBody(ds)
	if err != nil {
		return err
	}
	b := c.cfg.Bulk
	req, err := http.NewRequestWithContext(ctx, b.Method, b.URL, bytes.NewReader(body))
	if err != nil {
		return connectors.PermanentError(0, fmt.Errorf("build bulk request: %w", err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if b.Format == "ndjson" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.client.Do(req)
	if err != nil {
		return &connectors.DeliveryError{Class: auth.Classify(err),
			Err: fmt.Errorf("%s %s: %w", b.Method, connectors.SafeURL(req.URL), connectors.HTTPCause(err))}
	}
	defer resp.Body.Close()
	if connectors.HTTPClass(resp.StatusCode) != 0 {
		return c.outcome(req, resp)
	}
	return itemErrors(resp, len(ds))
}

func (c *Connector) bulkBody(ds []*connectors.Delivery) ([]byte, string, error) {
	var buf bytes.Buffer
	h := sha256.New()
	items := make([]json.RawMessage, 0, len(ds))
	for _, d := range ds {
		b, err := json.Marshal(d.Body)
		if err != nil {
			return nil, "", connectors.PermanentError(0, fmt.Errorf("event %s: encode body: %w", d.Event.ID, err))
		}
		items = append(items, b)
		h.Write([]byte(d.Event.ID + "\n"))
	}
	if c.cfg.Bulk.Format == "ndjson" {
		for _, it := range items {
			buf.Write(it)
			buf.WriteByte('\n')
		}
	} else if err := json.NewEncoder(&buf).Encode(items); err != nil {
		return nil, "", connectors.PermanentError(0, err)
	}
	return buf.Bytes(), "batch-" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// itemErrors reads a 2xx answer's per-item statuses, if it has them.
func itemErrors(resp *http.Response, n int) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	var br bulkResponse
	if json.Unmarshal(raw, &br) != nil || len(br.Items) == 0 {
		return nil // no per-item answer: the whole batch was accepted
	}
	if len(br.Items) != n {
		return connectors.TransientError(resp.StatusCode, fmt.Errorf(
			"bulk answer has %d items for %d events sent; the batch is sent again", len(br.Items), n))
	}
	failed := map[int]error{}
	for i, it := range br.Items {
		if it.Status == 0 {
			continue // no status for this item: accepted with the batch
		}
		if class := connectors.HTTPClass(it.Status); class != 0 {
			failed[i] = &connectors.DeliveryError{Class: class, Status: it.Status,
				Err: fmt.Errorf("bulk item %d refused: %d %s", i, it.Status, it.Error)}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &connectors.BatchError{Failed: failed}
}
