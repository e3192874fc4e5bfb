package batch

import (
	"strconv"
)

// Item is one event waiting in a batch.
type Item[T any] struct {
	Key     string // entity key; "" never coalesces
	Version string
	Seq     uint64 // stream sequence: the tie-breaker
	Size    int    // bytes it adds to the batch
	Value   T
}

// Coalescer keeps, for each entity, only the newest version waiting.
type Coalescer[T any] struct {
	items []Item[T]
	byKey map[string]int // key → index in items
	bytes int
}

// NewCoalescer returns an empty coalescer.
func NewCoalescer[T any]() *Coalescer[T] {
	return &Coalescer[T]{byKey: map[string]int{}}
}

// Add puts it in the batch. When the batch already holds its entity, the
// older of the two is returned as superseded (it may be it itself).
func (c *Coalescer[T]) Add(it Item[T]) (superseded *Item[T]) {
	if it.Key != "" {
		if i, ok := c.byKey[it.Key]; ok {
			cur := c.items[i]
			if it.Seq == cur.Seq && it.Seq != 0 {
				// The same message delivered again (its ack wait ran out
				// while it waited): keep the latest delivery, whose ack
				// counts.
				c.items[i] = it
				return nil
			}
			if !Newer(it.Version, it.Seq, cur.Version, cur.Seq) {
				return &it
			}
			c.items[i] = it
			c.bytes += it.Size - cur.Size
			return &cur
		}
		c.byKey[it.Key] = len(c.items)
	}
	c.items = append(c.items, it)
	c.bytes += it.Size
	return nil
}

// Len is how many events the batch holds.
func (c *Coalescer[T]) Len() int { return len(c.items) }

// Bytes is their size.
func (c *Coalescer[T]) Bytes() int { return c.bytes }

// Peek returns what the batch holds, without taking it.
func (c *Coalescer[T]) Peek() []Item[T] { return c.items }

// Take empties the coalescer and returns what it held, in arrival order
// of each entity's first event.
func (c *Coalescer[T]) Take() []Item[T] {
	out := c.items
	c.items, c.byKey, c.bytes = nil, map[string]int{}, 0
	return out
}

// Newer says whether version a (stored at seqA) is newer than b (at
// seqB): numerically when both are numbers, else as text (RFC 3339 times
// order this way); equal or missing versions fall back to the stream
// order.
func Newer(a string, seqA uint64, b string, seqB uint64) bool {
	if a != "" && b != "" && a != b {
		fa, errA := strconv.ParseFloat(a, 64)
		fb, errB := strconv.ParseFloat(b, 64)
		if errA == nil && errB == nil {
			return fa > fb
		}
		return a > b
	}
	return seqA > seqB
}
