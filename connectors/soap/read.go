package soap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"text/template"

	"github.com/hms/extsync/connectors"
)

// maxRecord bounds a read's answer.
const maxRecord = 16 << 20

// Read is the `soap.read` block: the service's operation that returns
// one entity's record, which lets verify compare it with what was sent.
type Read struct {
	// Action is the read operation's SOAPAction (1.1) or action
	// parameter (1.2); may be empty.
	Action string `yaml:"action"`
	// Template is the content of soap:Body of the read request, like
	// soap.template over the mapped record; {{key}} is the entity key.
	Template string `yaml:"template"`
	// Record is the path, by local names from inside soap:Body, of the
	// element of the answer holding the record: "GetHearingResponse/Hearing".
	Record string `yaml:"record"`
	// NotFoundFault is the fault code (or 1.2 subcode), by its local name,
	// with which the service says it has no such record: "Client.NotFound".
	NotFoundFault string `yaml:"not_found_fault"`
}

// xmlName is an XML local name: no prefix, no spaces.
var xmlName = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.\-]*$`)

func (r *Read) validate() error {
	if r == nil {
		return nil
	}
	if err := checkAction("soap.read.action", r.Action); err != nil {
		return err
	}
	if r.Template == "" {
		return errors.New("soap.read.template is required: the content of soap:Body of the read request")
	}
	if r.Record == "" {
		return errors.New("soap.read.record is required: the path of the answer's element holding the record, as GetHearingResponse/Hearing")
	}
	for seg := range strings.SplitSeq(r.Record, "/") {
		if !xmlName.MatchString(seg) {
			return fmt.Errorf("soap.read.record %q: want element local names joined by /, without prefixes (GetHearingResponse/Hearing)", r.Record)
		}
	}
	if r.NotFoundFault != "" && !xmlName.MatchString(r.NotFoundFault) {
		return fmt.Errorf("soap.read.not_found_fault %q: want a fault code's local name, without a prefix (Client.NotFound)", r.NotFoundFault)
	}
	return nil
}

// reader is a parsed soap.read.
type reader struct {
	body     *bodyTemplate
	header   http.Header
	record   []string
	notFound string
}

func newReader(cfg Config) (*reader, error) {
	body, err := parseBodyTemplate("soap.read.template", cfg.Read.Template,
		template.FuncMap{"key": func() string { return "" }}) // replaced at each read
	if err != nil {
		return nil, err
	}
	if err := body.checkAtStart(); err != nil {
		return nil, err
	}
	return &reader{body: body, header: staticHeader(cfg, cfg.Read.Action),
		record: strings.Split(cfg.Read.Record, "/"), notFound: cfg.Read.NotFoundFault}, nil
}

// render is the read request's Body content for the entity key.
func (r *reader) render(data map[string]any, key string) ([]byte, error) {
	t, err := r.body.tmpl.Clone()
	if err != nil {
		return nil, templateError(r.body.name, err)
	}
	return r.body.renderWith(t.Funcs(template.FuncMap{"key": func() string { return key }}), data)
}

// says reports whether f is the fault that means "no such record".
func (r *reader) says(f *Fault) bool {
	if r.notFound == "" {
		return false
	}
	_, sub, ok := strings.Cut(f.Subcode, ":")
	if !ok {
		sub = f.Subcode
	}
	return f.codeLocal == r.notFound || sub == r.notFound
}

// Reader is a soap connector with a read operation (soap.read): it can
// read records back, which verify and the overwrite and merge conflict
// rules need. New returns a *Connector when soap.read is not set.
type Reader struct {
	*Connector
	read *reader
}

var _ connectors.Remote = (*Reader)(nil)

// Fetch implements connectors.Remote: it posts the read request for d's
// entity and returns the answer's record element as a map (see record).
// The not_found_fault, or no record element, is an empty record; other
// faults and statuses are classified as for a delivery.
func (r *Reader) Fetch(ctx context.Context, d *connectors.Delivery) (map[string]any, string, error) {
	ctx, cancel := connectors.Bound(ctx, r.Timeout())
	defer cancel()
	if d.Event == nil {
		return nil, "", connectors.PermanentError(0, errors.New("read without an event"))
	}
	content, err := r.read.render(d.Body, d.Event.Key)
	if err != nil {
		return nil, "", connectors.PermanentError(0, err)
	}
	resp, err := r.post(ctx, r.read.header.Clone(), content)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRecord+1))
	if err != nil {
		return nil, "", connectors.TransientError(resp.StatusCode, fmt.Errorf("POST %s: reading the answer: %w", r.safeURL, err))
	}
	if f := parseFault(bytes.NewReader(raw)); f != nil && r.read.says(f) {
		return nil, "", nil
	}
	answer := *resp // outcome reads the body again, from raw
	answer.Body = io.NopCloser(bytes.NewReader(raw))
	if err := r.outcome(&answer); err != nil {
		return nil, "", err
	}
	if len(raw) > maxRecord {
		return nil, "", connectors.PermanentError(resp.StatusCode, fmt.Errorf("POST %s: the answer is larger than %d MiB", r.safeURL, maxRecord>>20))
	}
	rec, err := record(raw, r.read.record)
	if err != nil {
		return nil, "", connectors.PermanentError(resp.StatusCode, fmt.Errorf("POST %s: %w", r.safeURL, err))
	}
	emptyAsSent(d.Body, rec)
	return rec, "", nil
}
