package coherence_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/synclog"
)

func TestCheckFindsDriftedAndMissingRecordsAndMarksThem(t *testing.T) {
	e := newEnv(t)
	for i := range 6 {
		e.deliver(t, fmt.Sprintf("wf-%d", i), 1, "4B")
	}
	e.deliver(t, "case 7/a", 2, "9C") // a key the state hashes
	e.court.edit("wf-1", "courtroom", "7A")
	e.court.edit("wf-2", "clerk", "changed") // not a delivered field
	e.court.remove("wf-3")
	e.court.edit("case 7/a", "workflow_name", "Hand edited")

	res, err := e.checker().Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 7, res.Checked)
	require.Equal(t, 4, res.InStep)
	require.Equal(t, 2, res.Drifted)
	require.Equal(t, 1, res.Missing)
	require.Equal(t, []coherence.Entity{
		{Key: "case 7/a", State: coherence.Drifted, Status: 200,
			Fields: []coherence.Field{{Field: "workflow_name", Extsync: "Attorney Rotation", System: "Hand edited"}}},
		{Key: "wf-1", State: coherence.Drifted, Status: 200,
			Fields: []coherence.Field{{Field: "courtroom", Extsync: "4B", System: "7A"}}},
		{Key: "wf-3", State: coherence.Missing, Status: 404, Fields: []coherence.Field{
			{Field: "case_id", Extsync: "wf-3"}, {Field: "courtroom", Extsync: "4B"},
			{Field: "workflow_name", Extsync: "Attorney Rotation"}}},
	}, res.Entities)
	require.True(t, e.state(t, "wf-1").Drifted)
	require.True(t, e.state(t, "wf-3").Drifted)
	require.True(t, e.state(t, "case 7/a").Drifted)
	require.False(t, e.state(t, "wf-2").Drifted)

	outcomes := map[string]int{}
	for _, m := range brokertest.Messages(t, e.js, synclog.Stream, synclog.SubjectPrefix+"court") {
		recs, err := synclog.Decode(m.Data)
		require.NoError(t, err)
		for _, r := range recs {
			outcomes[r.Outcome]++
			require.Equal(t, coherence.ActionVerify, r.Action)
			require.NotZero(t, r.Status, "the system answered: its status is kept")
		}
	}
	require.Equal(t, map[string]int{coherence.OutcomeVerified: 4, coherence.OutcomeDrifted: 3}, outcomes)

	// Put back by hand: the next check finds it in step and clears the mark.
	e.court.edit("wf-1", "courtroom", "4B")
	res, err = e.checker().Run(e.ctx, coherence.Selection{Entities: []string{"wf-1"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.InStep)
	require.Empty(t, res.Entities)
	require.False(t, e.state(t, "wf-1").Drifted)
}

func TestCheckVerifiesTheLastDeliveredVersion(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, "wf-1", 1, "1A")
	e.deliver(t, "wf-1", 2, "2B")
	res, err := e.checker().Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 1, res.InStep)
}

func TestCheckOfAnEntityExtsyncNeverDeliveredFails(t *testing.T) {
	e := newEnv(t)
	res, err := e.checker().Run(e.ctx, coherence.Selection{Entities: []string{"nope"}})
	require.NoError(t, err)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, 0, res.Checked)
	require.Contains(t, res.Entities[0].Error, "no delivered record")
	require.False(t, res.InStepAll())
}

func TestCheckSamplesAShare(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.deliver(t, fmt.Sprintf("wf-%d", i), 1, "4B")
	}
	res, err := e.checker().Run(e.ctx, coherence.Selection{Sample: 30})
	require.NoError(t, err)
	require.Equal(t, 3, res.Checked)
}

func TestCheckKeepsToItsRate(t *testing.T) {
	e := newEnv(t)
	for i := range 6 {
		e.deliver(t, fmt.Sprintf("wf-%d", i), 1, "4B")
	}
	c := e.checker()
	c.Rate = 20
	start := time.Now()
	res, err := c.Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 6, res.InStep)
	require.GreaterOrEqual(t, time.Since(start), 240*time.Millisecond, "6 reads at 20/s take 5 intervals of 50ms")
}

func TestCheckStopsWhenTheSystemKeepsFailing(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		e.deliver(t, fmt.Sprintf("wf-%d", i), 1, "4B")
	}
	e.court.Close()
	c := e.checker()
	c.Workers = 1
	res, err := c.Run(e.ctx, coherence.Selection{})
	require.ErrorContains(t, err, "20 reads in a row failed")
	require.Equal(t, 20, res.Failed)
}

func TestRepairSendsTheDeliveredEventBackThroughTheConnectorsReplaySubject(t *testing.T) {
	e := newEnv(t)
	e.deliver(t, "wf-1", 1, "4B")
	e.deliver(t, "wf-2", 1, "4B")
	e.court.edit("wf-1", "courtroom", "7A")
	c := e.checker()
	c.Repair = true
	res, err := c.Run(e.ctx, coherence.Selection{})
	require.NoError(t, err)
	require.Equal(t, 1, res.Repaired)
	require.True(t, res.Entities[0].Repaired)

	sent := brokertest.Messages(t, e.js, deadletter.ReplayStream, deadletter.ReplaySubjectPrefix+"court")
	require.Len(t, sent, 1)
	h := sent[0].Header
	orig := brokertest.Messages(t, e.js, "HMS_EVENTS", "")[0]
	require.Equal(t, orig.Data, sent[0].Data, "the event as published")
	require.Equal(t, "hms.workflow.updated", h.Get(deadletter.HeaderSubject))
	require.Equal(t, fmt.Sprint(orig.Sequence), h.Get(deadletter.HeaderStreamSeq), "ordering sees the original sequence")
	require.Equal(t, "wf-1-v1", h.Get(deadletter.HeaderEventID))
	require.NotEmpty(t, h.Get(deadletter.HeaderRepair))
	require.Equal(t, "test", h.Get(deadletter.HeaderReplayedBy))
}
