package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStopScan, returned by a Scan callback, ends the scan without error.
var ErrStopScan = errors.New("stop scan")

// ScanOptions choose what Scan reads.
type ScanOptions struct {
	// Filters are subject filters; none means the whole stream.
	Filters []string
	// Since starts at the first message stored at or after it (zero: the
	// first message).
	Since time.Time
	// StartSeq, when set, starts at this stream sequence instead (a page
	// of a listing resumes after the last one it showed).
	StartSeq uint64
	// Follow keeps reading new messages until ctx ends; otherwise the scan
	// ends at the last message stored when it started.
	Follow bool
}

// Scan reads a stream's messages in order through an ordered (ephemeral,
// flow-controlled) consumer and calls fn for each: the operators' tools
// read the dead-letter and log streams this way, in batches, never one
// request per message, and without disturbing any durable consumer.
func Scan(ctx context.Context, js jetstream.JetStream, stream string, o ScanOptions, fn func(jetstream.Msg) error) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: o.Filters}
	switch {
	case o.StartSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, o.StartSeq
	case !o.Since.IsZero():
		since := o.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	c, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	if !o.Follow && c.CachedInfo().NumPending == 0 {
		return nil
	}
	it, err := c.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("read %s: %w", stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	next := NewIter(it)
	for {
		m, err := next.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", stream, err)
		}
		if err := fn(m); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
		meta, err := m.Metadata()
		if err == nil && !o.Follow && meta.NumPending == 0 {
			return nil
		}
	}
}
