package deadletter

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// letterRef names one dead letter in EXTSYNC_DLQ.
type letterRef struct {
	seq       uint64
	connector string
}

// removeLetters deletes letters (in stream order) from EXTSYNC_DLQ and
// returns how many it removed, by connector. With prefix, letters hold, per connector,
// every dead letter up to the last one, so one purge of the connector's
// subject below its last sequence removes them: one request instead of
// one each, and letters parked since are above it and stay. Otherwise the
// deletes go several at once: one after another they, not the stream,
// would set the pace of a large replay or purge.
func removeLetters(ctx context.Context, dlq jetstream.Stream, letters []letterRef, prefix bool) (map[string]int, error) {
	if prefix {
		return purgePrefix(ctx, dlq, letters)
	}
	var g errgroup.Group
	g.SetLimit(32)
	var mu sync.Mutex
	removed := map[string]int{}
	for _, l := range letters {
		g.Go(func() error {
			if err := dlq.DeleteMsg(ctx, l.seq); err != nil && !isGone(err) {
				return fmt.Errorf("dead letter %d: %w", l.seq, err)
			}
			mu.Lock()
			removed[l.connector]++
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return removed, err
}

func purgePrefix(ctx context.Context, dlq jetstream.Stream, letters []letterRef) (map[string]int, error) {
	last := map[string]uint64{}
	var order []string
	for _, l := range letters {
		if _, ok := last[l.connector]; !ok {
			order = append(order, l.connector)
		}
		last[l.connector] = max(last[l.connector], l.seq)
	}
	removed := map[string]int{}
	for _, c := range order {
		err := dlq.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+c), jetstream.WithPurgeSequence(last[c]+1))
		if err != nil {
			return removed, fmt.Errorf("dead letters of connector %q up to %d: %w", c, last[c], err)
		}
		for _, l := range letters {
			if l.connector == c {
				removed[c]++
			}
		}
	}
	return removed, nil
}

// stillParked keeps the items whose dead letter is still in EXTSYNC_DLQ
// and returns how many another replay or purge took meanwhile.
func stillParked(ctx context.Context, dlq jetstream.Stream, items []ReplayItem) ([]ReplayItem, int, error) {
	here := make([]bool, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i, it := range items {
		g.Go(func() error {
			_, err := dlq.GetMsg(gctx, it.Seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("dead letter %d: %w", it.Seq, err)
			}
			here[i] = true
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	kept := items[:0:0]
	for i, it := range items {
		if here[i] {
			kept = append(kept, it)
		}
	}
	return kept, len(items) - len(kept), nil
}

// isGone: a dead letter already deleted (by an earlier, interrupted
// replay, or another operator) is what we wanted.
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful)
}
