package broker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

func TestIterWaitsAcrossRoundsUntilAMessageOrTheEnd(t *testing.T) {
	ctx, js := streamS(t)
	c, err := js.CreateConsumer(ctx, "S", jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	it, err := c.Messages(jetstream.PullMaxMessages(4))
	require.NoError(t, err)

	type result struct {
		m   jetstream.Msg
		err error
	}
	got := make(chan result, 1)
	iter := broker.NewIter(it)
	next := func() { m, err := iter.Next(); got <- result{m, err} }
	go next()
	require.Never(t, func() bool { return len(got) > 0 }, 1500*time.Millisecond,
		50*time.Millisecond, "an empty consumer: no message and no error, through rounds and then idle")

	_, err = js.Publish(ctx, "s.a", []byte("late"))
	require.NoError(t, err)
	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.Equal(t, "late", string(r.m.Data()), "a message stored while the consumer was idle")
		require.NoError(t, r.m.Ack())
	case <-ctx.Done():
		t.Fatal("the message stored while Next waited never came")
	}

	go next()
	it.Stop()
	select {
	case r := <-got:
		require.ErrorIs(t, r.err, jetstream.ErrMsgIteratorClosed, "a stopped iterator ends the wait")
	case <-ctx.Done():
		t.Fatal("Next kept waiting on a stopped iterator")
	}
}
