package deadletter

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
)

// Page returns up to n dead letters f selects, oldest first, starting
// after stream sequence after (0: from the first), and the sequence to
// pass as after for the next page (0 when there is none). It reads only
// as far as the page needs: the first page of a large stream costs what
// the page holds, not what the stream holds.
func Page(ctx context.Context, js jetstream.JetStream, f Filter, after uint64, n int) ([]Entry, uint64, error) {
	if n <= 0 {
		return nil, 0, fmt.Errorf("dead-letter page of %d: want 1 or more", n)
	}
	o := broker.ScanOptions{Since: f.Since}
	if after > 0 {
		o.StartSeq = after + 1
	}
	if f.Connector != "" {
		o.Filters = []string{SubjectPrefix + f.Connector}
	}
	var out []Entry
	var next uint64
	err := broker.Scan(ctx, js, Stream, o, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("dead letter metadata: %w", err)
		}
		e := entryOf(meta.Sequence.Stream, meta.Timestamp, m.Headers(), m.Data())
		if !f.Until.IsZero() && e.Parked.After(f.Until) {
			return broker.ErrStopScan
		}
		if !f.matches(e) {
			return nil
		}
		if len(out) == n {
			next = out[n-1].Seq // one more matches: there is a next page
			return broker.ErrStopScan
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("dead letters: %w", err)
	}
	return out, next, nil
}

// Get returns the dead letter at stream sequence seq, with its headers
// and body; ErrNotFound when there is none.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Entry, error) {
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return Entry{}, fmt.Errorf("stream %s: %w", Stream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, fmt.Errorf("%w: no dead letter %d", ErrNotFound, seq)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return entryOf(m.Sequence, m.Time, m.Header, m.Data), nil
}

// Depth returns how many dead letters are parked, by connector, from
// the stream's per-subject counts (no scan).
func Depth(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(SubjectPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		out[subj[len(SubjectPrefix):]] = n
	}
	return out, nil
}
