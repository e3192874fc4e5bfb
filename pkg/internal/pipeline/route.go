package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/mapping"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// router chooses each job's route: the connector's current mapping, or
// for a replayed dead letter that asks for it the mapping it was first
// sent with; and it finds a replay's body when the dead letter left it
// in the event stream.
type router struct {
	connector string
	current   *mapping.Mapping
	version   string // names current in the sync log and dead letters
	mappings  *mapping.Store
	js        jetstream.JetStream
}

func (r *router) choose(j *job) {
	j.route = route{mapping: r.current, version: r.version}
	if j.meta.Stream != deadletter.ReplayStream {
		return
	}
	h := j.msg.Headers()
	j.route.take = h.Get(reconcile.HeaderTake)
	j.route.repair = h.Get(deadletter.HeaderRepair) != ""
	if h.Get(deadletter.HeaderReplayMapping) != deadletter.MappingOriginal {
		return
	}
	v := h.Get(deadletter.HeaderMappingVersion)
	if v == "" || v == r.version {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.mappings.Get(ctx, r.connector, v)
	if err != nil {
		if j.err == nil {
			j.err = connectors.PermanentError(0, fmt.Errorf("replay with the original mapping: %w", err))
		}
		return
	}
	j.route.mapping, j.route.version = m, v
}

// omittedBody reads the body of a replayed dead letter that was parked
// without it (deadletter.HeaderBodyAt), nil for any other message.
func (r *router) omittedBody(msg jetstream.Msg) ([]byte, error) {
	at := msg.Headers().Get(deadletter.HeaderBodyAt)
	if at == "" || len(msg.Data()) > 0 {
		return nil, nil
	}
	stream, seqText, _ := strings.Cut(at, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return nil, connectors.PermanentError(0, fmt.Errorf("dead letter body at %q: not stream:seq", at))
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	st, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, connectors.TransientError(0, fmt.Errorf("dead letter body in %s: %w", stream, err))
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, connectors.PermanentError(0, fmt.Errorf(
			"the dead letter's body was left in %s at %d, which no longer holds it (retention)", stream, seq))
	}
	if err != nil {
		return nil, connectors.TransientError(0, fmt.Errorf("dead letter body in %s at %d: %w", stream, seq, err))
	}
	return m.Data, nil
}
