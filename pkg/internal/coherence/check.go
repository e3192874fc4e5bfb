package coherence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// Checker verifies one connector's entities against its system.
type Checker struct {
	Connector *config.Connector
	// Remote reads the system's records: the connector built from
	// Connector, when its kind can read back (see Readable).
	Remote connectors.Remote
	States *reconcile.Store
	JS     jetstream.JetStream
	// Stream is the event stream (HMS_EVENTS): hashed entity keys are
	// recovered from it, and repairs read their event there.
	Stream string
	// Rate caps the system reads per second; 0: no cap.
	Rate float64
	// Workers is how many reads run at once (default 8).
	Workers int
	// Repair sends the version last delivered of each entity not in step
	// through the connector again.
	Repair bool
	// Actor names who asked, for the sync log and the repairs.
	Actor string
	// Progress, when set, is told every ProgressEvery (default 5 s) how
	// many of the selected entities were done.
	Progress      func(done, total int)
	ProgressEvery time.Duration
}

// Selection says which entities a check reads.
type Selection struct {
	// Entities names entity keys; empty: every entity of the connector.
	Entities []string
	// Sample is the share of every entity checked, in percent, chosen at
	// random; 0 or 100: all. Ignored with Entities.
	Sample float64
}

// maxFailedInARow stops a check whose reads keep failing: the system is
// down or refuses, and going on would only repeat it.
const maxFailedInARow = 20

// target is one entity to check: its state key, its key when known, and
// whether it was named (--entity) rather than listed.
type target struct {
	stateKey, entity string
	named            bool
}

// Run checks the selected entities and returns what it found. An error
// means the check as a whole failed or was cut short; the result then
// holds what was done.
func (c *Checker) Run(ctx context.Context, sel Selection) (*Result, error) {
	res := &Result{Connector: c.Connector.Name, Entities: []Entity{}}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w := &work{c: c, events: newEvents(c.JS, c.Stream, c.Connector), rec: newRecorder(c.JS), cancel: cancel,
		limit: rate.NewLimiter(rate.Inf, 1)}
	if c.Rate > 0 {
		w.limit = rate.NewLimiter(rate.Limit(c.Rate), 1)
	}
	w.rep = &repairer{js: c.JS, events: w.events, connector: c.Connector.Name, actor: c.Actor,
		run:  fmt.Sprintf("%s-%d", c.Connector.Name, time.Now().UnixNano()),
		spec: snapshot.SpecOf(c.Connector), subjects: c.Connector.Subjects}

	in := make(chan target)
	out := make(chan Entity)
	var wg sync.WaitGroup
	for range max(c.Workers, 1) {
		wg.Go(func() {
			for t := range in {
				out <- w.check(ctx, t)
			}
		})
	}
	var total atomic.Int64
	go func() {
		defer close(in)
		err := c.feed(ctx, sel, &total, func(t target) bool {
			select {
			case in <- t:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil {
			cancel(err)
		}
	}()
	go func() { wg.Wait(); close(out) }()
	stop := c.report(&total, &w.done)
	for e := range out {
		res.add(e)
		w.done.Add(1)
	}
	stop()
	res.sort()
	var runErr error
	if ctx.Err() != nil {
		runErr = context.Cause(ctx) // interrupted, or too many reads failed in a row
	}
	closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer closeCancel()
	return res, errors.Join(runErr, w.rec.close(closeCtx))
}

// feed hands each selected entity to send, until send returns false.
// The connector's entities are listed as they are checked, so a check's
// memory does not grow with their number; total is set to how many are
// about to come.
func (c *Checker) feed(ctx context.Context, sel Selection, total *atomic.Int64, send func(target) bool) error {
	name := c.Connector.Name
	if len(sel.Entities) > 0 {
		total.Store(int64(len(sel.Entities)))
		for _, e := range sel.Entities {
			if !send(target{stateKey: reconcile.Key(name, e), entity: e, named: true}) {
				return nil
			}
		}
		return nil
	}
	var pick *sampler
	err := c.States.EachKey(ctx, name, func(n int) {
		pick = newSampler(n, sel.Sample)
		total.Store(int64(pick.want))
	}, func(k string) error {
		if !pick.take() {
			return nil
		}
		if !send(target{stateKey: k, entity: reconcile.EntityOf(name, k)}) {
			return errStopFeed
		}
		return nil
	})
	if errors.Is(err, errStopFeed) {
		return nil
	}
	return err
}

var errStopFeed = errors.New("check stopped")

// sampler picks want of n keys seen one at a time, each set of want
// equally likely (Knuth's selection sampling): a key is taken with the
// chance of the picks still needed among the keys still to come.
type sampler struct {
	all              bool
	want, need, left int
}

// newSampler picks pct percent of n keys; all of them for 0 or 100.
func newSampler(n int, pct float64) *sampler {
	if pct <= 0 || pct >= 100 {
		return &sampler{all: true, want: n}
	}
	want := int(math.Ceil(float64(n) * pct / 100))
	return &sampler{want: want, need: want, left: n}
}

func (s *sampler) take() bool {
	if s.all {
		return true
	}
	if s.left <= 0 || s.need <= 0 {
		return false
	}
	ok := rand.IntN(s.left) < s.need // #nosec G404 -- a sample, not a secret
	s.left--
	if ok {
		s.need--
	}
	return ok
}

// report calls Progress every ProgressEvery until the returned stop.
func (c *Checker) report(total, done *atomic.Int64) (stop func()) {
	if c.Progress == nil {
		return func() {}
	}
	every := c.ProgressEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-t.C:
				c.Progress(int(done.Load()), int(total.Load()))
			case <-quit:
				return
			}
		}
	}()
	return func() { t.Stop(); close(quit); <-finished }
}
