package coherence_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/reconcile"
)

// deleteEntity publishes a deletion of id at version v and records it
// as delivered, as the pipeline does once the system took it.
func (e *env) deleteEntity(t *testing.T, id string, v int) uint64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": id, "version": v, "status": "cancelled"})
	ack, err := e.js.PublishMsg(e.ctx, &nats.Msg{Subject: "hms.workflow.updated", Data: body,
		Header: nats.Header{"Nats-Msg-Id": {id + "-v" + strconv.Itoa(v)}}})
	require.NoError(t, err)
	require.NoError(t, e.states.Release(e.ctx, "court", id, strconv.Itoa(v), ack.Sequence,
		&reconcile.Synced{Snapshot: reconcile.RecordJSON(map[string]any{"case_id": id}), Mapping: "m1", Deleted: true}))
	return ack.Sequence
}

// An entity extsync deleted is in step when the system has no record of
// it, and drifted, saying why, when the system still holds one; a repair
// sends the deletion again.
func TestCheckExpectsADeletedEntityToBeMissing(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, "wf-1", 1, "4B")
	e.deliver(t, "wf-2", 1, "4B")
	e.deleteEntity(t, "wf-1", 2)
	seq := e.deleteEntity(t, "wf-2", 2)
	e.court.remove("wf-1") // the court took wf-1's deletion; wf-2 came back (or never went)

	c := e.checker()
	c.Repair = true
	res, err := c.Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 2, res.Checked)
	require.Equal(t, 1, res.InStep, "wf-1 is gone, as extsync left it")
	require.Equal(t, 1, res.Drifted)
	require.Zero(t, res.Missing)
	require.Equal(t, []coherence.Entity{{
		Key: "wf-2", State: coherence.Drifted, Status: 200, Repaired: true,
		Reason: "deleted (version 2) but the system still holds a record",
		Fields: []coherence.Field{
			{Field: "case_id", System: "wf-2"}, {Field: "clerk", System: "x"},
			{Field: "courtroom", System: "4B"}, {Field: "workflow_name", System: "Attorney Rotation"}},
	}}, res.Entities)
	require.True(t, e.state(t, "wf-2").Drifted)
	require.True(t, e.state(t, "wf-2").Deleted, "a check changes the verdict, not what was delivered")
	require.False(t, e.state(t, "wf-1").Drifted)

	sent := brokertest.Messages(t, e.js, deadletter.ReplayStream, deadletter.ReplaySubjectPrefix+"court")
	require.Len(t, sent, 1)
	require.Equal(t, fmt.Sprint(seq), sent[0].Header.Get(deadletter.HeaderStreamSeq), "the deletion is what is sent again")
}
