package bench

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// Subject is what the benchmark publishes to and its connector consumes.
const Subject = "hms.bench.updated"

// Event ids are "<phase>-<n>": the sink and the sync-log observer read the
// phase and index back from the request path or the record's event id.
const (
	phaseCeiling    = 'c'
	phaseThroughput = 't'
	phaseLatency    = 'l'
)

// timeLayout has a fixed width, so every event of one size is that size.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// sentField carries the publish time (Unix nanoseconds) in the event data,
// and so in the body the external system receives.
const sentField = `"sent_unix_nano":`

func eventID(phase byte, n int) string {
	return string(phase) + "-" + strconv.Itoa(n)
}

// parseID reads "<phase>-<n>" back.
func parseID(id string) (phase byte, n int, ok bool) {
	if len(id) < 3 || id[1] != '-' {
		return 0, 0, false
	}
	n, err := strconv.Atoi(id[2:])
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return id[0], n, true
}

// generator builds events of one size: a structured CloudEvent, as
// pkg/publish sends it, whose data is {"id", "version", "sent_unix_nano",
// "pad"}. Unversioned, each event is its own entity (the CloudEvent's
// subject is the event id) and data has no version.
type generator struct {
	size int
	pad  string // long enough for any event; sliced per event
	// entities is how many entities versioned events spread over, 0 for
	// unversioned events; rounds is how many versions of each the
	// throughput phase publishes.
	entities, rounds int
}

func newGenerator(size, events, versions int) *generator {
	g := &generator{size: size, pad: strings.Repeat("x", size)}
	if versions > 0 {
		g.rounds = versions
		g.entities = max((events+versions-1)/versions, 1)
	}
	return g
}

// entity returns event id's entity key and version: events are numbered
// in publish order and go round-robin over the entities, so entity k's
// version v is published after every entity's version v-1, as a platform
// with many busy entities publishes them. The latency phase's versions
// follow the throughput phase's, so none of them is stale.
func (g *generator) entity(id string) (key, version string) {
	phase, n, ok := parseID(id)
	if g.entities == 0 || !ok {
		return id, ""
	}
	v := n/g.entities + 1
	if phase == phaseLatency {
		v += g.rounds
	}
	return "e-" + strconv.Itoa(n%g.entities), strconv.Itoa(v)
}

// data appends the event data object: what the connector sends on, as the
// benchmark's connector has no mapping.
func data(b []byte, id, version string, sent int64, pad string) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	if version != "" { // read by the connector's `version: version`
		b = append(b, `","version":`...)
		b = append(b, version...)
		b = append(b, `,"pad":"`...)
	} else {
		b = append(b, `","pad":"`...)
	}
	b = append(b, pad...)
	b = append(b, `",`...)
	b = append(b, sentField...)
	b = strconv.AppendInt(b, sent, 10)
	return append(b, '}')
}

// event returns the message body of event id, published at sent.
func (g *generator) event(id string, sent time.Time) []byte {
	b := make([]byte, 0, g.size+64)
	b = g.envelope(b, id, sent, "")
	padLen := max(g.size-len(b), 0)
	return g.envelope(b[:0], id, sent, g.pad[:min(padLen, len(g.pad))])
}

func (g *generator) envelope(b []byte, id string, sent time.Time, pad string) []byte {
	key, version := g.entity(id)
	b = append(b, `{"specversion":"1.0","id":"`...)
	b = append(b, id...)
	b = append(b, `","source":"extsync-bench","type":"`+Subject+`","subject":"`...)
	b = append(b, key...) // the entity key ordering goes by
	b = append(b, `","time":"`...)
	b = sent.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","datacontenttype":"application/json","data":`...)
	b = data(b, id, version, sent.UnixNano(), pad)
	return append(b, '}')
}

// ceilingBody is what the connector would send for event id: the event's
// data, padded the same way.
func (g *generator) ceilingBody(id string, sent time.Time) []byte {
	ev := g.event(id, sent)
	i := bytes.Index(ev, []byte(`"data":`))
	return ev[i+len(`"data":`) : len(ev)-1]
}

// sentAt reads sent_unix_nano from a body; ok is false when it has none.
func sentAt(body []byte) (int64, bool) {
	i := bytes.Index(body, []byte(sentField))
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(sentField):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return n, err == nil
}
