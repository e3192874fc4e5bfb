package demo

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/publish"
	"github.com/hms/extsync/pkg/synclog"
)

// printer serialises the narrative: the court and the pipeline report
// from their own goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
	// held collects what the court and the pipeline say between a step's
	// title and its publish line (holding), so a fast court's answer never
	// prints before the event it answers.
	held    bytes.Buffer
	holding bool
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holding {
		fmt.Fprintf(&p.held, format, args...)
		return
	}
	fmt.Fprintf(p.w, format, args...)
}

// stepTitle prints step n's title before its event is published, and
// holds what the court and the pipeline report until stepPublished.
func (p *printer) stepTitle(n int, s step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\n%d. %s\n", n, s.title)
	p.holding = true
}

// stepPublished prints the publish line of the step begun by stepTitle,
// then what was held meanwhile, and stops holding. A nil res (the
// publish failed) only stops holding.
func (p *printer) stepPublished(s step, res *publish.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if res != nil {
		fmt.Fprintf(p.w, "   publish  %s  event %s  (stream %s #%d)\n", s.subject, res.ID, res.Stream, res.Seq)
	}
	_, _ = p.held.WriteTo(p.w)
	p.holding = false
}

func (p *printer) intro(natsURL, courtURL, dir string) {
	p.printf(`extsync demo: HMS platform events reach a court scheduling system

  NATS JetStream (embedded)     %s  (store: %s)
  court scheduling simulator    %s/api/v1
  pipeline                      2 connectors, each with its own durable consumer

The connectors file in use (${COURT_URL} and ${COURT_TOKEN} come from the environment):

%s
`, natsURL, dir, courtURL, indent(Connectors, "    "))
}

func (p *printer) courtLine(r Request) {
	if r.Method == http.MethodGet { // the merge reading the court's record
		p.printf("   court    GET %s  (extsync reads the court's record to merge)\n            answers %d %s\n",
			r.Path, r.Status, http.StatusText(r.Status))
		return
	}
	p.printf("   court    %s %s  Idempotency-Key: %s\n            body %s\n            answers %d %s\n",
		r.Method, r.Path, r.IdempotencyKey, compact(r.Body), r.Status, http.StatusText(r.Status))
}

func (p *printer) recordLine(r synclog.Record) {
	switch r.Outcome {
	case "delivered":
		p.printf("   extsync  %s: delivered on attempt %d (%.1f ms), acked\n", r.Connector, r.Attempt, r.DurationMS)
	case "retry":
		p.printf("   extsync  %s: attempt %d failed (transient), retrying in %d ms (backoff, Retry-After honoured)\n",
			r.Connector, r.Attempt, r.RetryInMS)
	case "dead-lettered":
		p.printf("   extsync  %s: attempt %d refused (permanent), parked in %s, acked\n", r.Connector, r.Attempt, deadletter.Stream)
	default:
		p.printf("   extsync  %s: %s\n", r.Connector, r.Outcome)
	}
}

func (p *printer) deadLetter(h nats.Header, body []byte) {
	keys := make([]string, 0, len(h))
	for k := range h {
		if strings.HasPrefix(k, "Extsync-") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe dead letter an operator finds in %s (extsync dlq ls / show):\n", deadletter.Stream)
	for _, k := range keys {
		fmt.Fprintf(&b, "    %-24s %s\n", k+":", h.Get(k))
	}
	fmt.Fprintf(&b, "    body: %d bytes, the event exactly as published\n", len(body))
	p.printf("%s", b.String())
}

func (p *printer) summary(w *waiter, c *Court) {
	n := w.counts()
	p.printf(`
Summary
  events published        %d
  delivered               %d   (each acked only after its sync-log record was stored)
  transient failures      %d   (retried with backoff, then delivered)
  dead-lettered           %d   (refused by the court; kept in %s for replay)
  requests the court saw  %d   (every one carried an Idempotency-Key)

Every attempt above is a record on the EXTSYNC_LOG stream. Run it for real with
  extsync serve      (connectors from EXTSYNC_CONNECTORS, embedded NATS on 127.0.0.1:4222)
  extsync publish hms.workflow.updated '{"id":"wf-1","status":"approved"}'
`, len(steps), n["delivered"], n["retry"], n["dead-lettered"], deadletter.Stream, len(c.Received()))
}

func indent(s, pad string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}
