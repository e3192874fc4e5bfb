package sftp

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/connectors"
)

// fileName renders the template for a file holding ds (ds[0] names it).
func (c *Connector) fileName(ds []*connectors.Delivery, now time.Time) string {
	first := ds[0].Event
	return strings.NewReplacer(
		"{connector}", c.name,
		"{time}", now.UTC().Format("20060102T150405.000000000Z"),
		"{seq}", strconv.FormatUint(first.Seq, 10),
		"{id}", safeName(first.ID),
	).Replace(c.cfg.Filename)
}

// safeName keeps an event id usable as part of a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// content encodes the mapped bodies of ds in the configured format.
func (c *Connector) content(ds []*connectors.Delivery) ([]byte, error) {
	var buf bytes.Buffer
	if c.cfg.Format == FormatCSV {
		if err := c.writeCSV(&buf, ds); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	enc := json.NewEncoder(&buf)
	for _, d := range ds {
		if err := enc.Encode(d.Body); err != nil {
			return nil, connectors.PermanentError(0, fmt.Errorf("event %s: encode JSON line: %w", d.Event.ID, err))
		}
	}
	return buf.Bytes(), nil
}

func (c *Connector) writeCSV(buf *bytes.Buffer, ds []*connectors.Delivery) error {
	w := csv.NewWriter(buf)
	if err := w.Write(c.cfg.Columns); err != nil {
		return err
	}
	row := make([]string, len(c.cfg.Columns))
	for _, d := range ds {
		for i, col := range c.cfg.Columns {
			cell, err := csvCell(lookup(d.Body, col))
			if err != nil {
				return connectors.PermanentError(0, fmt.Errorf("event %s: column %q: %w", d.Event.ID, col, err))
			}
			row[i] = cell
		}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// lookup reads a dotted path in body; nil when any step is missing.
func lookup(body map[string]any, dotted string) any {
	var cur any = body
	for part := range strings.SplitSeq(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// csvCell writes strings as they are, nothing as an empty cell, and
// anything else (numbers, booleans, objects, arrays) as its JSON.
func csvCell(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}
