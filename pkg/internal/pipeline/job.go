package pipeline

import (
	"context"
	"encoding/json"
	"reflect"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/event"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// job is one message on its way through the stages. The reader fills
// what comes from the message; each stage fills only its own part.
type job struct {
	msg  jetstream.Msg
	meta *jetstream.MsgMetadata
	// subject is where the event was published: the message's subject, or
	// for a replayed dead letter the original one (Extsync-Subject).
	subject string
	attempt int
	ev      *event.Event // nil when the message could not be decoded
	// delete: the event says its entity is gone (delete_when, or a
	// CloudEvent type ending in .deleted); it is sent as a deletion.
	delete bool
	body   map[string]any
	// bodyText is body as JSON text, made once for the comparison with
	// the last record and the record kept; of is the body it was made of.
	bodyText struct {
		json json.RawMessage
		of   unsafe.Pointer
	}
	// err is a failure found before any stage ran (malformed, oversized,
	// a replay whose body or mapping is gone); the chain settles it.
	err error
	// data is the event's body when it is not the message's own: a
	// replayed dead letter whose body stayed in its stream.
	data   []byte
	route  route
	entity entity
	life   life
	// parent is the producer's trace context; nil in batch mode, where a
	// batch span links its events' contexts instead.
	parent context.Context
}

// route is what the map and conflict stages apply to a job: the
// connector's current mapping, or for a replay asking for it the one the
// event was first sent with, and a person's choice for a parked conflict.
type route struct {
	mapping *mapping.Mapping
	version string
	take    string
	// repair: the version last delivered is sent again (verify --repair).
	repair bool
}

// entity is the job's place in its entity's order and last sync.
type entity struct {
	key string // "" when the event has none: no ordering applies
	// admitted: the feeder gave the job its entity (keyQueue.admit).
	admitted bool
	// pending: the job's entity state (its claim, its delivered record)
	// is the settler's to write with the outcome.
	pending bool
	// ifMatch comes from the entity's last sync (last); etag is the
	// system's version after this delivery, status its answer's code.
	ifMatch, etag string
	status        int
	last          reconcile.State
	// claiming is a claim started before a worker took the job (see
	// entityOrder.preclaim), until the claim stage takes it up; claimed
	// is when the claim stage took the entity.
	claiming reconcile.Claiming
	claimed  time.Time
}

// life is what keeps a waiting job's message ours and bounded.
type life struct {
	// touched is when JetStream last heard this message is being worked
	// on: its arrival, or the last "in progress" sent for it.
	touched time.Time
	started time.Time // this attempt's start; zero in batch mode
	// held is the budget the job's bytes count against until a worker
	// starts it (nil once released); size is what it counts.
	held *budget
	size int64
}

// synced is what the entity state keeps of j's delivery; nil when the
// system did not take the record.
func (j *job) synced(delivered bool) *reconcile.Synced {
	if !delivered {
		return nil
	}
	if j.delete {
		// The deletion's record names the entity (a URL's fields, key
		// columns) for verify's read; a removed record has no version.
		return &reconcile.Synced{Snapshot: j.record(), Mapping: j.route.version, Deleted: true}
	}
	return &reconcile.Synced{ETag: j.entity.etag, Snapshot: j.record(), Mapping: j.route.version}
}

// record is the body as the entity state keeps it. A stage that changes
// the body (a merge) replaces the map, so the text is made again.
func (j *job) record() json.RawMessage {
	of := reflect.ValueOf(j.body).UnsafePointer()
	if j.bodyText.json == nil || j.bodyText.of != of {
		j.bodyText.json, j.bodyText.of = reconcile.RecordJSON(j.body), of
	}
	return j.bodyText.json
}

// bodyJSON is the body's JSON text when the body is the event's data
// itself (no mapping, no merge replaced it) and the decoder kept that
// text; nil otherwise. Maps are never changed in place on the way, so
// the same map means the same content.
func (j *job) bodyJSON() []byte {
	if j.ev == nil || j.ev.DataJSON == nil || j.body == nil ||
		reflect.ValueOf(j.body).UnsafePointer() != reflect.ValueOf(j.ev.Data).UnsafePointer() {
		return nil
	}
	return j.ev.DataJSON
}

// raw is the event's body as published.
func (j *job) raw() []byte {
	if j.data != nil {
		return j.data
	}
	return j.msg.Data()
}

// keepAlive tells JetStream the message is still being worked on.
func (j *job) keepAlive() {
	_ = j.msg.InProgress()
	j.life.touched = time.Now()
}

// keepAliveAfter calls keepAlive if JetStream last heard of j at least
// after ago: the one rule for every place a message can wait.
func (j *job) keepAliveAfter(now time.Time, after time.Duration) {
	if now.Sub(j.life.touched) >= after {
		j.keepAlive()
	}
}

// abandonClaim ends a claim started for j that its chain did not take
// up (handed back, or failed before its claim stage), rather than let it
// hold the entity until it lapses.
func (j *job) abandonClaim() {
	c := j.entity.claiming
	if c == nil {
		return
	}
	j.entity.claiming = nil
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	c.Abandon(ctx)
}
