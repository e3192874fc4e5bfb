package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/service"
	"github.com/hms/extsync/pkg/publish"
	"github.com/hms/extsync/pkg/synclog"
)

// Connectors is the demo's connectors file; ${COURT_URL} and
// ${COURT_TOKEN} are filled in by the demo, as the environment would be.
const Connectors = `connectors:
  - name: court-schedule
    kind: http
    subjects: [hms.workflow.updated]
    mapping:
      name: workflow_name
      status: state
      assignments: assignments
    conflict: {strategy: merge}     # the court's own edits are kept, ours are added
    http:
      method: PUT
      url: ${COURT_URL}/api/v1/workflows/{id}
      headers: {Authorization: "Bearer ${COURT_TOKEN}"}
      conflict_match: '$.error.code == "OVERLAPPING_ASSIGNMENT"'
      timeout: 5s
    retry: {max_attempts: 5, initial: 500ms, max: 5s}

  - name: court-hearings
    kind: http
    subjects: [hms.scheduling.updated]
    key: hearingId
    mapping:
      hearingId: case_reference
      scheduledAt: start_time
      location: courtroom
      judge.name: judge
    http:
      url: ${COURT_URL}/api/v1/hearings/{hearingId}
      auth: {bearer: "${COURT_TOKEN}"}
      timeout: 5s
    retry: {max_attempts: 5, initial: 500ms, max: 5s}
`

// step is one event the demo publishes, and what it is meant to show.
type step struct {
	title, subject, version string
	data                    string
	// courtEdit, if set, is the court clerk's own edit of the workflow,
	// made before the step's event is published.
	courtEdit map[string]any
}

var steps = []step{
	{`A clerk approves the "Attorney Rotation" workflow`, "hms.workflow.updated", "7",
		`{"id":"wf-attorney-rotation","name":"Attorney Rotation","status":"approved","approvedBy":"clerk.jones",` +
			`"assignments":[{"attorney":"A. Rivera","week":"2026-W48"},{"attorney":"M. Chen","week":"2026-W49"}]}`, nil},
	{"Hearing H-1001 is scheduled", "hms.scheduling.updated", "",
		`{"hearingId":"H-1001","scheduledAt":"2026-12-01T09:30:00Z","location":"Courtroom 4B","judge":{"name":"Hon. P. Okafor"}}`, nil},
	{"Hearing H-1002 moves (the court's database is busy at first)", "hms.scheduling.updated", "",
		`{"hearingId":"H-1002","scheduledAt":"2026-12-02T14:00:00Z","location":"Courtroom 2A","judge":{"name":"Hon. L. Duarte"}}`, nil},
	{"Hearing H-1003 is saved without a courtroom", "hms.scheduling.updated", "",
		`{"hearingId":"H-1003","scheduledAt":"2026-12-03T10:00:00Z","judge":{"name":"Hon. P. Okafor"}}`, nil},
	{`The clerk swaps week 49 of "Attorney Rotation" while the court holds its own edit`, "hms.workflow.updated", "8",
		`{"id":"wf-attorney-rotation","name":"Attorney Rotation","status":"approved","approvedBy":"clerk.jones",` +
			`"assignments":[{"attorney":"A. Rivera","week":"2026-W48"},{"attorney":"J. Okoro","week":"2026-W49"}]}`,
		map[string]any{"courtNote": "Courtroom 4B held for the rotation"}},
}

// Run plays the demo, writing its narrative to out.
func Run(ctx context.Context, out io.Writer) error {
	p := &printer{w: out}
	dir, err := os.MkdirTemp("", "extsync-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	court := NewCourt("H-1002")
	court.OnRequest = p.courtLine
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("court simulator: %w", err)
	}
	srv := &http.Server{Handler: court, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	courtURL := "http://" + ln.Addr().String()

	env := map[string]string{"COURT_URL": courtURL, "COURT_TOKEN": CourtToken}
	reg := catalog.Default()
	file, err := config.Parse("demo connectors.yaml", []byte(Connectors),
		func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		return err
	}
	settings := config.Settings{NATSListen: "127.0.0.1:0", DataDir: dir, Stream: "HMS_EVENTS",
		LogMaxAge: time.Hour, Drain: 5 * time.Second}
	waiter := newWaiter()
	svc, err := service.Start(ctx, settings, file.Connectors, service.Options{
		Kinds: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnRecord: func(r synclog.Record) { p.recordLine(r); waiter.saw(r) },
	})
	if err != nil {
		return err
	}
	p.intro(svc.NATSURL(), courtURL, dir)

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	err = play(ctx, p, publish.New(svc.JetStream(), "hms/policy"), waiter, court)
	if err == nil {
		err = showDeadLetter(ctx, p, svc)
	}
	stop()
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err == nil {
		p.summary(waiter, court)
	}
	return err
}

func play(ctx context.Context, p *printer, pub *publish.Publisher, w *waiter, court *Court) error {
	for i, s := range steps {
		if s.courtEdit != nil {
			court.PendingEdit("wf-attorney-rotation", s.courtEdit)
			p.printf("\n   (at the court, a clerk edits wf-attorney-rotation: %s)\n", compact(s.courtEdit))
		}
		var opts []publish.Option
		if s.version != "" {
			opts = append(opts, publish.WithVersion(s.version))
		}
		p.stepTitle(i+1, s)
		res, err := pub.Publish(ctx, s.subject, s.data, opts...)
		if err != nil {
			p.stepPublished(s, nil)
			return err
		}
		afterPublish(ctx, w, res.ID)
		p.stepPublished(s, &res)
		if err := w.await(ctx, res.ID, 15*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// afterPublish runs between a step's publish and its narration; tests
// set it to let the pipeline settle the event first, the interleaving
// that a fast court makes likely.
var afterPublish = func(context.Context, *waiter, string) {}

func showDeadLetter(ctx context.Context, p *printer, svc *service.Service) error {
	st, err := svc.JetStream().Stream(ctx, deadletter.Stream)
	if err != nil {
		return err
	}
	m, err := st.GetLastMsgForSubject(ctx, deadletter.SubjectPrefix+"court-hearings")
	if err != nil {
		return fmt.Errorf("read dead letter: %w", err)
	}
	p.deadLetter(m.Header, m.Data)
	return nil
}

// waiter lets the narrative wait for an event's final outcome.
type waiter struct {
	mu    sync.Mutex
	final map[string]string
	count map[string]int
	ch    chan struct{}
}

func newWaiter() *waiter {
	return &waiter{final: map[string]string{}, count: map[string]int{}, ch: make(chan struct{}, 64)}
}

func (w *waiter) saw(r synclog.Record) {
	w.mu.Lock()
	w.count[r.Outcome]++
	if r.Outcome != "retry" {
		w.final[r.EventID] = r.Outcome
	}
	w.mu.Unlock()
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

func (w *waiter) await(ctx context.Context, id string, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		_, ok := w.final[id]
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-w.ch:
		case <-deadline.C:
			return fmt.Errorf("event %s not settled within %s", id, limit)
		case <-ctx.Done():
			return errors.New("demo interrupted")
		}
	}
}

func (w *waiter) counts() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.count {
		out[k] = v
	}
	return out
}

func compact(body map[string]any) string {
	b, _ := json.Marshal(body)
	return strings.TrimSpace(string(b))
}
