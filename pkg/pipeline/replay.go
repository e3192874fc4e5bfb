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
	"github.com/hms/extsync/pkg/reconcile"
	"github.com/hms/extsync/pkg/synclog"
)

// chooseMapping picks the mapping a job is sent with: the connector's
// current one, unless the job is a replay asking for the original (the
// version its dead letter records) and that differs.
func (r *Runner) chooseMapping(j *job) {
	j.mapping, j.mappingVersion = r.mapping, r.mappingVersion
	h := j.msg.Headers()
	if j.meta.Stream == deadletter.ReplayStream {
		j.take = h.Get(reconcile.HeaderTake)
	}
	if j.meta.Stream != deadletter.ReplayStream || h.Get(deadletter.HeaderReplayMapping) != deadletter.MappingOriginal {
		return
	}
	v := h.Get(deadletter.HeaderMappingVersion)
	if v == "" || v == r.mappingVersion {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.mappings.Get(ctx, r.cfg.Name, v)
	if err != nil {
		if j.err == nil {
			j.err = connectors.PermanentError(0, fmt.Errorf("replay with the original mapping: %w", err))
		}
		return
	}
	j.mapping, j.mappingVersion = m, v
}

// carryOver makes a replayed event that fails again count every attempt
// it ever had and keep its first one, so a dead letter says how long the
// event has really been failing.
func carryOver(l *deadletter.Letter, j *job) {
	if j.meta.Stream != deadletter.ReplayStream {
		return
	}
	h := j.msg.Headers()
	if prior, err := strconv.Atoi(h.Get(deadletter.HeaderAttempts)); err == nil && prior > 0 {
		l.Attempts += prior
	}
	if first, err := time.Parse(time.RFC3339Nano, h.Get(deadletter.HeaderFirstAttempt)); err == nil {
		l.FirstAttempt = first
	}
}

// noteReplay marks the sync log record of a replayed event: which dead
// letter it replays and who asked, so an event's story shows the replay.
func noteReplay(rec *synclog.Record, j *job) {
	if j.meta.Stream != deadletter.ReplayStream {
		return
	}
	h := j.msg.Headers()
	rec.ReplayOf, _ = strconv.ParseUint(h.Get(deadletter.HeaderReplayOf), 10, 64)
	rec.Actor = h.Get(deadletter.HeaderReplayedBy)
}

// omittedBody reads the body of a replayed dead letter that was parked
// without it (deadletter.HeaderBodyAt), nil for any other message.
func (r *Runner) omittedBody(msg jetstream.Msg) ([]byte, error) {
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
