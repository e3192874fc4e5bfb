package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
)

// A feeder that stops holding an admitted job it could not hand to a
// worker must give back, with its own queue, the jobs another feeder (the
// replays') queued behind that entity: no worker would ever run them, and
// JetStream would hold them for the whole ack wait.
func TestAStoppingFeederGivesBackTheJobsQueuedBehindItsHead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := brokertest.Connect(t, brokertest.RunServer(t))
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}})
	require.NoError(t, err)
	cons, err := js.CreateConsumer(ctx, "EV", jetstream.ConsumerConfig{Durable: "c",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Minute})
	require.NoError(t, err)
	for _, id := range []string{"head", "replay", "behind"} {
		_, err := js.Publish(ctx, "ev.case", []byte(id))
		require.NoError(t, err)
	}
	batch, err := cons.FetchNoWait(3)
	require.NoError(t, err)
	var jobs []*job
	for m := range batch.Messages() {
		jobs = append(jobs, &job{msg: m, entity: entity{key: "case-7"}, life: life{touched: time.Now()}})
	}
	require.Len(t, jobs, 3)
	head, replayed, behind := jobs[0], jobs[1], jobs[2]

	b := newBudget(1 << 20)
	in := newIntake(b)
	f := &feeder{in: in, keys: newKeyQueue(), keep: 5 * time.Minute / 3}
	for _, j := range jobs {
		b.take(j, int64(len(j.msg.Data())))
	}
	in.put(head)
	feedCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); f.run(feedCtx, make(chan *job)) }() // no worker takes it
	require.Eventually(t, func() bool { return f.keys.busy("case-7") }, 10*time.Second, time.Millisecond,
		"the feeder admits its head")
	require.False(t, f.admit(replayed), "the replay waits behind the head for its entity")
	in.put(behind)
	stop()
	<-stopped

	require.False(t, f.keys.busy("case-7"), "the entity is free again")
	require.Zero(t, b.jobs.Load(), "every job handed back gave its budget back")
	require.Zero(t, b.bytes.Load())
	again, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var redelivered []string
	for m := range again.Messages() {
		meta, err := m.Metadata()
		require.NoError(t, err)
		require.EqualValues(t, 2, meta.NumDelivered)
		redelivered = append(redelivered, string(m.Data()))
	}
	require.ElementsMatch(t, []string{"head", "replay", "behind"}, redelivered,
		"all three go back to JetStream at once, not after the ack wait")
}

// busy reports whether key is held by a job.
func (q *keyQueue) busy(key string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.waiting[key]
	return ok
}
