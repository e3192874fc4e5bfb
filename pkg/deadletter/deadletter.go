package deadletter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/event"
)

// Stream and subject prefix of the dead-letter stream.
const (
	Stream        = "EXTSYNC_DLQ"
	SubjectPrefix = "extsync.dlq."
)

// Headers set on every dead letter.
const (
	HeaderConnector = "Extsync-Connector"
	HeaderSubject   = "Extsync-Subject"
	HeaderStream    = "Extsync-Stream"
	HeaderStreamSeq = "Extsync-Stream-Seq"
	// HeaderBodyOmitted (the body's size) and HeaderBodyAt (stream:seq)
	// mark a dead letter whose event was too large to store again beside
	// its headers: the body stays where HeaderBodyAt says, and a replay
	// reads it from there.
	HeaderBodyOmitted   = "Extsync-Body-Omitted"
	HeaderBodyAt        = "Extsync-Body-At"
	HeaderEventID       = "Extsync-Event-Id"
	HeaderAttempts      = "Extsync-Attempts"
	HeaderError         = "Extsync-Error"
	HeaderStatus        = "Extsync-Status"
	HeaderHTTPStatus    = "Extsync-Http-Status"
	HeaderFirstAttempt  = "Extsync-First-Attempt"
	HeaderLastAttempt   = "Extsync-Last-Attempt"
	HeaderOriginalMsgID = "Extsync-Original-Msg-Id"
	HeaderTraceparent   = "traceparent"
	// HeaderMappingVersion is the version of the mapping the event was
	// last sent with (mapping.Version).
	HeaderMappingVersion = "Extsync-Mapping-Version"
)

// MaxErrorLen bounds Extsync-Error: a reason, not a response body dump.
const MaxErrorLen = 1024

// StreamConfig keeps dead letters until they are replayed or purged: no
// age or size limit, so none can expire silently.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "extsync dead letters: events that could not be delivered",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  2 * time.Minute,
		Replicas:    max(replicas, 1),
	}
}

// Letter is one event to park.
type Letter struct {
	Connector      string
	Subject        string
	Stream         string
	StreamSeq      uint64
	EventID        string
	Attempts       int
	Reason         string
	Status         string // permanent or exhausted
	HTTPStatus     int
	FirstAttempt   time.Time
	LastAttempt    time.Time
	Body           []byte
	Header         map[string][]string // the original message's headers
	MappingVersion string
}

// Parker publishes dead letters.
type Parker struct {
	js jetstream.JetStream
}

// NewParker returns a parker on js.
func NewParker(js jetstream.JetStream) *Parker { return &Parker{js: js} }

// Park stores l and returns once JetStream has acknowledged it. The
// message id is connector, stream and sequence, so a crash between park
// and ack parks the event once, not twice.
func (p *Parker) Park(ctx context.Context, l *Letter) error {
	m := nats.NewMsg(SubjectPrefix + l.Connector)
	m.Data = l.Body
	for k, vs := range l.Header {
		if strings.HasPrefix(k, "Nats-") {
			continue // control headers of the original publish, not ours to repeat
		}
		m.Header[k] = vs
	}
	if id := event.HeaderValue(l.Header, "Nats-Msg-Id"); id != "" {
		m.Header.Set(HeaderOriginalMsgID, id)
	}
	h := m.Header
	h.Set(HeaderConnector, l.Connector)
	h.Set(HeaderSubject, l.Subject)
	h.Set(HeaderStream, l.Stream)
	h.Set(HeaderStreamSeq, strconv.FormatUint(l.StreamSeq, 10))
	h.Set(HeaderEventID, l.EventID)
	h.Set(HeaderAttempts, strconv.Itoa(l.Attempts))
	h.Set(HeaderError, truncate(oneLine(l.Reason), MaxErrorLen))
	h.Set(HeaderStatus, l.Status)
	if l.HTTPStatus != 0 {
		h.Set(HeaderHTTPStatus, strconv.Itoa(l.HTTPStatus))
	}
	h.Set(HeaderFirstAttempt, l.FirstAttempt.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderLastAttempt, l.LastAttempt.UTC().Format(time.RFC3339Nano))
	if l.MappingVersion != "" {
		h.Set(HeaderMappingVersion, l.MappingVersion)
	}
	if tp := event.HeaderValue(l.Header, HeaderTraceparent); tp != "" {
		h.Set(HeaderTraceparent, tp)
	}
	p.omitOversizedBody(m, l)
	id := fmt.Sprintf("%s:%s:%d", l.Connector, l.Stream, l.StreamSeq)
	if _, err := p.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("dead-letter event %s of connector %q: %w", l.EventID, l.Connector, err)
	}
	return nil
}

// headroom is kept below the server's max payload for the headers of
// the publish itself.
const headroom = 8 << 10

// omitOversizedBody leaves the body out of a dead letter the server would
// refuse as too large (an event near its max payload gains headers here),
// noting where the body is: a letter that cannot be stored would leave
// the event redelivered and parked again forever.
func (p *Parker) omitOversizedBody(m *nats.Msg, l *Letter) {
	limit := p.js.Conn().MaxPayload()
	size := int64(len(m.Data) + headroom)
	for k, vs := range m.Header {
		for _, v := range vs {
			size += int64(len(k) + len(v) + 4)
		}
	}
	if limit <= 0 || size <= limit {
		return
	}
	m.Header.Set(HeaderBodyOmitted, strconv.Itoa(len(m.Data)))
	m.Header.Set(HeaderBodyAt, fmt.Sprintf("%s:%d", l.Stream, l.StreamSeq))
	m.Data = nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
