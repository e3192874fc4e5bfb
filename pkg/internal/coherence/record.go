package coherence

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/synclog"
)

// Sync log outcomes of verification.
const (
	OutcomeVerified = "verified" // the system holds the record as delivered
	OutcomeDrifted  = "drifted"  // it differs, or has no record (error says which)
	OutcomeRepaired = "repaired" // the version last delivered was sent again
)

// ActionVerify is the sync log action of a verification record.
const ActionVerify = "verify"

// recorder writes verification records to the sync log in groups, one
// message per group, and waits for every group's PubAck at close.
type recorder struct {
	w     *synclog.Writer
	in    chan *synclog.Record
	done  chan struct{}
	mu    sync.Mutex
	errs  []error
	flush time.Duration
}

const recordGroup = 256

func newRecorder(js jetstream.JetStream) *recorder {
	r := &recorder{w: synclog.NewWriter(js), in: make(chan *synclog.Record, recordGroup),
		done: make(chan struct{}), flush: 200 * time.Millisecond}
	go r.run()
	return r
}

func (r *recorder) add(rec *synclog.Record) { r.in <- rec }

func (r *recorder) run() {
	defer close(r.done)
	var group []*synclog.Record
	var pending []jetstream.PubAckFuture
	t := time.NewTicker(r.flush)
	defer t.Stop()
	send := func() {
		if len(group) == 0 {
			return
		}
		f, err := r.w.AppendAsync(group)
		if err != nil {
			r.fail(err)
		} else {
			pending = append(pending, f)
		}
		group = nil
		pending = r.settle(pending, false)
	}
	for {
		select {
		case rec, ok := <-r.in:
			if !ok {
				send()
				r.settle(pending, true)
				return
			}
			if group = append(group, rec); len(group) >= recordGroup {
				send()
			}
		case <-t.C:
			send()
		}
	}
}

// settle collects the futures that resolved (all of them, waiting up to
// 30 s, when wait is set) and returns those still pending.
func (r *recorder) settle(pending []jetstream.PubAckFuture, wait bool) []jetstream.PubAckFuture {
	var timeout <-chan time.Time
	if wait {
		timeout = time.After(30 * time.Second)
	}
	left := pending[:0]
	for i, f := range pending {
		select {
		case <-f.Ok():
			continue
		case err := <-f.Err():
			r.fail(err)
			continue
		default:
		}
		if !wait {
			left = append(left, f)
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			r.fail(err)
		case <-timeout:
			r.fail(fmt.Errorf("%d sync log groups not confirmed within 30s", len(pending)-i))
			return nil
		}
	}
	return left
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) < 3 {
		r.errs = append(r.errs, err)
	}
}

// close writes what is left and reports whether everything was stored.
func (r *recorder) close(ctx context.Context) error {
	close(r.in)
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("sync log: %w", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		return fmt.Errorf("sync log: some verification records not stored: %w", errors.Join(r.errs...))
	}
	return nil
}

// summary says in one line which fields differ, for the record's error.
func summary(e Entity) string {
	if e.State == Missing {
		return "missing: the system has no record of the entity"
	}
	if e.Reason != "" {
		return "drifted: " + e.Reason
	}
	names := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		names = append(names, f.Field)
	}
	s := "drifted: " + strings.Join(names, ", ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
