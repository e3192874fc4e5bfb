package coherence

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// repairer sends an entity's version last delivered back through its
// connector: the event as stored in the event stream, published to the
// connector's replay subject with its original subject and sequence, so
// the pipeline delivers it as it would any event (mapping, ordering,
// conflict rules, sync log, dead letters), marked HeaderRepair.
type repairer struct {
	js        jetstream.JetStream
	events    *events
	connector string
	run       string // the verification run, HeaderRepair's value
	actor     string
}

// send publishes the repair of the entity whose state is st and waits
// for the replay stream to store it.
func (r *repairer) send(ctx context.Context, st reconcile.State) error {
	raw, err := r.events.get(ctx, st.Seq)
	if err != nil {
		return fmt.Errorf("repair: %w; publish the entity again to put it back", err)
	}
	ev, err := r.events.decode(raw)
	if err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	m := nats.NewMsg(deadletter.ReplaySubjectPrefix + r.connector)
	m.Data = raw.Data
	for k, v := range raw.Header {
		m.Header[k] = v
	}
	seq := strconv.FormatUint(raw.Sequence, 10)
	m.Header.Set(deadletter.HeaderSubject, raw.Subject)
	m.Header.Set(deadletter.HeaderStream, r.events.name)
	m.Header.Set(deadletter.HeaderStreamSeq, seq)
	m.Header.Set(deadletter.HeaderEventID, ev.ID)
	m.Header.Set(deadletter.HeaderRepair, r.run)
	if r.actor != "" {
		m.Header.Set(deadletter.HeaderReplayedBy, r.actor)
	}
	// One repair per entity and run: a second publish of it within the
	// replay stream's duplicate window is dropped.
	id := "repair:" + r.connector + ":" + seq + ":" + r.run
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
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
	return r.send(ctx, reconcile.State{Seq: seq})
}
