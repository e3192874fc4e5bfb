package coherence

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/reconcile"
	"github.com/hms/extsync/pkg/internal/snapshot"
)

// repairer sends an entity's newest version back through its connector:
// the snapshot's entry for it (EXTSYNC_SNAPSHOT), or where the snapshot
// has none, the event last delivered as the event stream stores it. It is
// published to the connector's replay subject with its original subject
// and sequence, so the pipeline delivers it as it would any event
// (mapping, ordering, conflict rules, sync log, dead letters), marked
// HeaderRepair. The snapshot comes first because the delivered event may
// have aged out of the event stream, and a newer version may exist.
type repairer struct {
	js        jetstream.JetStream
	events    *events
	connector string
	run       string // the verification run, HeaderRepair's value
	actor     string
	// spec and subjects find the connector's entries in the snapshot;
	// no subjects: the event stream only.
	spec     snapshot.Spec
	subjects []string
}

// send publishes the repair of the entity key (empty when unknown) whose
// state is st and waits for the replay stream to store it.
func (r *repairer) send(ctx context.Context, key string, st reconcile.State) error {
	if key != "" && len(r.subjects) > 0 {
		e, ok, err := snapshot.Newest(ctx, r.js, r.spec, r.subjects, key)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("repair: %w", err)
		}
		if ok {
			return r.publish(ctx, e.Data, e.Header, e.Subject, e.Header.Get(deadletter.HeaderStream), e.Seq,
				e.Header.Get(deadletter.HeaderEventID))
		}
	}
	raw, err := r.events.get(ctx, st.Seq)
	if err != nil {
		return fmt.Errorf("repair: %w; publish the entity again to put it back", err)
	}
	ev, err := r.events.decode(raw)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	return r.publish(ctx, raw.Data, raw.Header, raw.Subject, r.events.name, raw.Sequence, ev.ID)
}

func (r *repairer) publish(ctx context.Context, data []byte, h nats.Header, subject, stream string, at uint64, id string) error {
	m := nats.NewMsg(deadletter.ReplaySubjectPrefix + r.connector)
	m.Data = data
	for k, v := range h {
		m.Header[k] = v
	}
	seq := strconv.FormatUint(at, 10)
	m.Header.Set(deadletter.HeaderSubject, subject)
	m.Header.Set(deadletter.HeaderStream, stream)
	m.Header.Set(deadletter.HeaderStreamSeq, seq)
	m.Header.Set(deadletter.HeaderEventID, id)
	m.Header.Set(deadletter.HeaderRepair, r.run)
	if r.actor != "" {
		m.Header.Set(deadletter.HeaderReplayedBy, r.actor)
	}
	// One repair per entity and run: a second publish of it within the
	// replay stream's duplicate window is dropped.
	msgID := "repair:" + r.connector + ":" + seq + ":" + r.run
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("repair: publish to %s: %w", m.Subject, err)
	}
	return nil
}

// SendAgain sends the event stored at seq in the event stream through
// connector once more, as a repair (its version is let through though it
// was delivered): for a system that lost a record extsync delivered.
// run names the request in HeaderRepair and the replay's dedupe id, so
// one request sends once.
func SendAgain(ctx context.Context, js jetstream.JetStream, stream, connector string, seq uint64, run, actor string) error {
	r := &repairer{js: js, events: newEvents(js, stream, &config.Connector{}), connector: connector, run: run, actor: actor}
	return r.send(ctx, "", reconcile.State{Seq: seq})
}
