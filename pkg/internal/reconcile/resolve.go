package reconcile

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/synclog"
)

// Resolve finishes a parked conflict as a person chose. remote keeps the
// system's record: nothing is sent, the event is logged
// conflict-skipped. local and merged send the event back through its
// connector (the replay path, so ordering and the sync log apply), which
// writes ours over the remote version, or the merge with ours where both
// changed. The entry is removed once that is stored.
func Resolve(ctx context.Context, js jetstream.JetStream, c Conflict, take, actor string) error {
	switch take {
	case TakeRemote:
		if err := synclog.NewWriter(js).Append(ctx, &synclog.Record{
			Time: time.Now().UTC(), Connector: c.Connector, EventID: c.EventID, Subject: c.Subject,
			Entity: c.Entity, Version: c.Version, Outcome: "conflict-skipped", Actor: actor,
		}); err != nil {
			return err
		}
	case TakeLocal, TakeMerged:
		m := nats.NewMsg(deadletter.ReplaySubjectPrefix + c.Connector)
		m.Data = c.EventBody
		for k, v := range c.EventHeader {
			m.Header[k] = v
		}
		m.Header.Del("Nats-Msg-Id")
		m.Header.Set(HeaderTake, take)
		m.Header.Set(deadletter.HeaderEventID, c.EventID)
		m.Header.Set(deadletter.HeaderSubject, c.Subject)
		id := "resolve:" + c.Connector + ":" + strconv.FormatUint(c.Seq, 10)
		if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(id)); err != nil {
			return fmt.Errorf("send event %s back: %w", c.EventID, err)
		}
	default:
		return fmt.Errorf("take %q: want local, remote or merged", take)
	}
	if err := RemoveConflict(ctx, js, c.Seq); err != nil {
		return err
	}
	return synclog.Audit(ctx, js, c.Connector, actor, "conflicts resolve --take "+take, 1)
}
