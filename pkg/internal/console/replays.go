package console

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/hms/extsync/pkg/deadletter"
)

// Replay states shown on a replay's progress page.
const (
	stateRunning = "running"
	stateDone    = "done"
	stateFailed  = "failed"
)

// keptReplays bounds the finished replays this console remembers.
const keptReplays = 50

// errClosed refuses a replay once the console is closing.
var errClosed = errors.New("the console is shutting down: no new replay starts")

// replays are the replays this console started: each runs in its own
// goroutine, under the console's context, so it outlives the request that
// started it and ends when the console closes.
type replays struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	jobs   map[string]*replayJob
	order  []string // ids, oldest first
}

func newReplays() *replays {
	ctx, cancel := context.WithCancel(context.Background())
	return &replays{ctx: ctx, cancel: cancel, jobs: map[string]*replayJob{}}
}

// replayJob is one replay and its progress.
type replayJob struct {
	id, actor, summary, rate, mapping string
	filter                            url.Values
	started                           time.Time

	mu                   sync.Mutex
	selected, sent, gone int
	planned              bool // selected is known
	state, err           string
	finished             time.Time
}

// replayView is a replay as the pages show it.
type replayView struct {
	ID, Actor, Summary, Rate, Mapping string
	Filter                            url.Values
	Started, Finished                 time.Time
	Planned                           bool
	Selected, Sent, Failed, Remaining int
	Gone                              int
	State, Err                        string
}

func (j *replayJob) view() replayView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := replayView{ID: j.id, Actor: j.actor, Summary: j.summary, Rate: j.rate, Mapping: j.mapping, Filter: j.filter,
		Started: j.started, Finished: j.finished, Planned: j.planned, Selected: j.selected, Sent: j.sent, Gone: j.gone,
		State: j.state, Err: j.err}
	left := max(j.selected-j.sent-j.gone, 0)
	if j.state == stateRunning {
		v.Remaining = left
	} else {
		v.Failed = left // not sent: they stay parked
	}
	return v
}

// published is the replay's progress callback (deadletter.Action.Published).
func (j *replayJob) published(n, total int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.selected, j.sent, j.planned = total, n, true
}

func (j *replayJob) finish(res deadletter.Result, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.sent, j.gone, j.finished = res.Sent(), res.Gone, time.Now()
	if !j.planned {
		j.selected = j.sent + j.gone // nothing matched, or the checks refused it
	}
	j.state = stateDone
	if err != nil {
		j.state, j.err = stateFailed, err.Error()
	}
}

// start runs a in the background and returns its job.
func (rs *replays) start(run func(ctx context.Context, a deadletter.Action) (deadletter.Result, error),
	a deadletter.Action, j *replayJob) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return errClosed
	}
	j.id, j.started, j.state = rand.Text()[:16], time.Now(), stateRunning
	a.Published = j.published
	rs.jobs[j.id] = j
	rs.order = append(rs.order, j.id)
	rs.forget()
	rs.wg.Go(func() {
		res, err := run(rs.ctx, a)
		if err != nil && rs.ctx.Err() != nil {
			err = fmt.Errorf("stopped: the console shut down; what was sent is recorded, the rest stay parked: %w", err)
		}
		j.finish(res, err)
	})
	return nil
}

// forget drops the oldest finished replays beyond keptReplays.
func (rs *replays) forget() {
	finished := 0
	for _, id := range rs.order {
		if rs.jobs[id].view().State != stateRunning {
			finished++
		}
	}
	keep := rs.order[:0]
	for _, id := range rs.order {
		if finished > keptReplays && rs.jobs[id].view().State != stateRunning {
			delete(rs.jobs, id)
			finished--
			continue
		}
		keep = append(keep, id)
	}
	rs.order = keep
}

func (rs *replays) get(id string) (replayView, bool) {
	rs.mu.Lock()
	j, ok := rs.jobs[id]
	rs.mu.Unlock()
	if !ok {
		return replayView{}, false
	}
	return j.view(), true
}

// running lists the replays under way, oldest first.
func (rs *replays) running() []replayView {
	rs.mu.Lock()
	jobs := make([]*replayJob, 0, len(rs.order))
	for _, id := range rs.order {
		jobs = append(jobs, rs.jobs[id])
	}
	rs.mu.Unlock()
	var out []replayView
	for _, j := range jobs {
		if v := j.view(); v.State == stateRunning {
			out = append(out, v)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Started.Before(out[b].Started) })
	return out
}

// close stops every replay under way and waits for each to settle what it
// sent; no replay starts after it.
func (rs *replays) close() {
	rs.mu.Lock()
	rs.closed = true
	rs.mu.Unlock()
	rs.cancel()
	rs.wg.Wait()
}

// replayProgress is a replay's progress page; it reloads itself while the
// replay runs.
func (c *Console) replayProgress(w http.ResponseWriter, r *http.Request) {
	v, ok := c.replays.get(r.PathValue("id"))
	if !ok {
		c.fail(w, r, http.StatusNotFound, "Replay", fmt.Errorf(
			"no replay %q here: the instance that started a replay keeps its progress until it restarts (the last %d finished ones)",
			r.PathValue("id"), keptReplays))
		return
	}
	p := page{Title: "Replay " + v.ID, Nav: "dlq", Data: v}
	if v.State == stateRunning {
		p.Refresh, p.Swap = replayRefresh(c.o.Refresh), "replay"
	}
	c.render(w, r, http.StatusOK, "replay.html", p)
}

// replayRefresh is how often a progress page reloads, in seconds: the
// overview's period, at most 2 s.
func replayRefresh(d time.Duration) int {
	return max(1, min(2, int(d/time.Second)))
}
