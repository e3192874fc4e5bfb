package broker_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

func jetStreamServer(t *testing.T) (*server.Server, jetstream.JetStream) {
	t.Helper()
	s := runServer(t, &server.Options{JetStream: true})
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return s, js
}

func TestEnsureEventStreamCreates(t *testing.T) {
	ctx := testCtx(t)
	_, js := jetStreamServer(t)

	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 0))

	st, err := js.Stream(ctx, "HMS_EVENTS")
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	require.Equal(t, "HMS_EVENTS", cfg.Name)
	require.Equal(t, []string{"hms.>"}, cfg.Subjects)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	require.Equal(t, 2*time.Minute, cfg.Duplicates)
	require.Equal(t, 1, cfg.Replicas)
	require.Zero(t, cfg.MaxAge, "events must not expire by default")

	// Idempotent: a second call finds it and changes nothing.
	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1))
	st2, err := js.Stream(ctx, "HMS_EVENTS")
	require.NoError(t, err)
	require.Equal(t, st.CachedInfo().Created, st2.CachedInfo().Created)

	// The stream captures hms.> and deduplicates by Nats-Msg-Id.
	a1, err := js.Publish(ctx, "hms.workflow.updated", []byte(`{"id":"w1"}`), jetstream.WithMsgID("e1"))
	require.NoError(t, err)
	require.Equal(t, "HMS_EVENTS", a1.Stream)
	a2, err := js.Publish(ctx, "hms.workflow.updated", []byte(`{"id":"w1"}`), jetstream.WithMsgID("e1"))
	require.NoError(t, err)
	require.True(t, a2.Duplicate)
	info, err := st2.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
}

func TestEnsureEventStreamCustomName(t *testing.T) {
	ctx := testCtx(t)
	_, js := jetStreamServer(t)
	require.NoError(t, broker.EnsureEventStream(ctx, js, "PLATFORM_EVENTS", 1))
	st, err := js.Stream(ctx, "PLATFORM_EVENTS")
	require.NoError(t, err)
	require.Equal(t, []string{"hms.>"}, st.CachedInfo().Config.Subjects)
	_, err = js.Stream(ctx, "HMS_EVENTS")
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
}

func TestEnsureEventStreamLeavesExistingAlone(t *testing.T) {
	ctx := testCtx(t)
	_, js := jetStreamServer(t)

	orig, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        "HMS_EVENTS",
		Description: "owned by the platform team",
		Subjects:    []string{"hms.>"},
		Storage:     jetstream.MemoryStorage,
		MaxAge:      time.Hour,
		Duplicates:  30 * time.Second,
	})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "hms.policy.updated", []byte(`{"id":"p1","version":3}`))
	require.NoError(t, err)
	before, err := orig.Info(ctx)
	require.NoError(t, err)

	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1))

	st, err := js.Stream(ctx, "HMS_EVENTS")
	require.NoError(t, err)
	after, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Config, after.Config, "existing stream config must not change")
	require.Equal(t, time.Hour, after.Config.MaxAge)
	require.Equal(t, jetstream.MemoryStorage, after.Config.Storage)
	require.Equal(t, 30*time.Second, after.Config.Duplicates)
	require.Equal(t, "owned by the platform team", after.Config.Description)
	require.EqualValues(t, 1, after.State.Msgs)
	m, err := st.GetMsg(ctx, before.State.LastSeq)
	require.NoError(t, err)
	require.Equal(t, "hms.policy.updated", m.Subject)
	require.JSONEq(t, `{"id":"p1","version":3}`, string(m.Data))
}

func TestEnsureEventStreamOverlappingStream(t *testing.T) {
	// Another stream already captures hms.>: the event stream cannot be
	// created and the caller must hear about it.
	ctx := testCtx(t)
	_, js := jetStreamServer(t)
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"hms.>"}})
	require.NoError(t, err)
	err = broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1)
	require.Error(t, err)
	require.Contains(t, err.Error(), "HMS_EVENTS")
}

func TestEnsureConsumer(t *testing.T) {
	ctx := testCtx(t)
	_, js := jetStreamServer(t)
	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1))

	// Events published before the consumer exists must still be delivered.
	for _, subj := range []string{"hms.workflow.updated", "hms.policy.updated", "hms.scheduling.created"} {
		_, err := js.Publish(ctx, subj, []byte(`{"id":"x"}`))
		require.NoError(t, err)
	}

	c, err := broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
		Stream: "HMS_EVENTS", Durable: "extsync-court-schedule",
		Filters: []string{"hms.workflow.updated"}, AckWait: 45 * time.Second, MaxAckPending: 64,
	})
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	cfg := info.Config
	require.Equal(t, "extsync-court-schedule", cfg.Durable)
	require.Equal(t, jetstream.AckExplicitPolicy, cfg.AckPolicy)
	require.Equal(t, jetstream.DeliverAllPolicy, cfg.DeliverPolicy)
	require.Equal(t, 45*time.Second, cfg.AckWait)
	require.Equal(t, 64, cfg.MaxAckPending)
	require.Equal(t, -1, cfg.MaxDeliver)
	require.Equal(t, []string{"hms.workflow.updated"}, filtersOf(cfg))
	require.EqualValues(t, 1, info.NumPending)

	msgs, err := c.FetchNoWait(10)
	require.NoError(t, err)
	var got []string
	for m := range msgs.Messages() {
		got = append(got, m.Subject())
		require.NoError(t, m.Ack())
	}
	require.Equal(t, []string{"hms.workflow.updated"}, got)

	t.Run("several filters, then updated", func(t *testing.T) {
		spec := broker.ConsumerSpec{
			Stream: "HMS_EVENTS", Durable: "extsync-clinic",
			Filters: []string{"hms.workflow.updated", "hms.policy.updated"}, AckWait: 30 * time.Second, MaxAckPending: 16,
		}
		c, err := broker.EnsureConsumer(ctx, js, spec)
		require.NoError(t, err)
		info, err := c.Info(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, spec.Filters, filtersOf(info.Config))
		require.EqualValues(t, 2, info.NumPending)

		// Same spec again: no error, same consumer.
		_, err = broker.EnsureConsumer(ctx, js, spec)
		require.NoError(t, err)

		// New filters and limits are applied to the existing durable.
		spec.Filters = []string{"hms.scheduling.>", "hms.policy.updated", "hms.data.updated"}
		spec.AckWait = time.Minute
		spec.MaxAckPending = 8
		c, err = broker.EnsureConsumer(ctx, js, spec)
		require.NoError(t, err)
		info, err = c.Info(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, spec.Filters, filtersOf(info.Config))
		require.Equal(t, time.Minute, info.Config.AckWait)
		require.Equal(t, 8, info.Config.MaxAckPending)
		require.Equal(t, -1, info.Config.MaxDeliver)

		// Back to a single filter.
		spec.Filters = []string{"hms.data.updated"}
		c, err = broker.EnsureConsumer(ctx, js, spec)
		require.NoError(t, err)
		info, err = c.Info(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"hms.data.updated"}, filtersOf(info.Config))

		names := consumerNames(t, ctx, js, "HMS_EVENTS")
		require.ElementsMatch(t, []string{"extsync-court-schedule", "extsync-clinic"}, names)
	})

	t.Run("filter outside the stream", func(t *testing.T) {
		_, err := broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
			Stream: "HMS_EVENTS", Durable: "extsync-misfit",
			Filters: []string{"orders.created"}, AckWait: 30 * time.Second, MaxAckPending: 16,
		})
		require.Error(t, err)
		require.Contains(t, err.Error(), "extsync-misfit")
		require.Contains(t, err.Error(), "HMS_EVENTS")
		require.NotContains(t, consumerNames(t, ctx, js, "HMS_EVENTS"), "extsync-misfit")
	})

	t.Run("one of several filters outside the stream", func(t *testing.T) {
		_, err := broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
			Stream: "HMS_EVENTS", Durable: "extsync-half",
			Filters: []string{"hms.workflow.updated", "orders.created"}, AckWait: 30 * time.Second, MaxAckPending: 16,
		})
		require.Error(t, err)
		require.Contains(t, err.Error(), "extsync-half")
	})

	t.Run("missing stream", func(t *testing.T) {
		_, err := broker.EnsureConsumer(ctx, js, broker.ConsumerSpec{
			Stream: "NO_SUCH_STREAM", Durable: "extsync-lost",
			Filters: []string{"hms.workflow.updated"}, AckWait: 30 * time.Second, MaxAckPending: 16,
		})
		require.Error(t, err)
		require.Contains(t, err.Error(), "extsync-lost")
		require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	})
}

func filtersOf(cfg jetstream.ConsumerConfig) []string {
	if cfg.FilterSubject != "" {
		return append([]string{cfg.FilterSubject}, cfg.FilterSubjects...)
	}
	return cfg.FilterSubjects
}

func consumerNames(t *testing.T, ctx context.Context, js jetstream.JetStream, stream string) []string {
	t.Helper()
	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	lister := st.ConsumerNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	require.NoError(t, lister.Err())
	return names
}

func TestStartEmbedded(t *testing.T) {
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	addr, ok := s.Addr().(*net.TCPAddr)
	require.True(t, ok)
	require.NotZero(t, addr.Port)
	require.True(t, addr.IP.IsLoopback())
	require.True(t, s.JetStreamEnabled())
	require.False(t, s.JetStreamConfig().SyncAlways)

	nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	requireWorks(t, nc)
	require.EqualValues(t, broker.MaxPayload, nc.MaxPayload())

	ctx := testCtx(t)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1))

	// A 2 MiB event, over NATS's 1 MiB default, is accepted and stored.
	big := bytes.Repeat([]byte("x"), 2<<20)
	ack, err := js.Publish(ctx, "hms.data.updated", big)
	require.NoError(t, err)
	st, err := js.Stream(ctx, "HMS_EVENTS")
	require.NoError(t, err)
	m, err := st.GetMsg(ctx, ack.Sequence)
	require.NoError(t, err)
	require.Len(t, m.Data, 2<<20)
}

func TestStartEmbeddedSyncAlways(t *testing.T) {
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), SyncAlways: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.JetStreamConfig().SyncAlways)
}

func TestStartEmbeddedPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	start := time.Now()
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:" + port, StoreDir: t.TempDir()})
	if s != nil {
		s.Shutdown()
	}
	require.Error(t, err)
	require.Nil(t, s)
	require.Contains(t, err.Error(), port)
	t.Logf("taken port reported after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestStartEmbeddedBadListen(t *testing.T) {
	// ("127.0.0.1:-5" is left out: it is not refused up front and costs the
	// same 15 s readiness wait as a taken port.)
	for _, listen := range []string{"", "127.0.0.1", "127.0.0.1:http-ish", "localhost"} {
		s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: listen, StoreDir: t.TempDir()})
		if s != nil {
			s.Shutdown()
		}
		require.Error(t, err, "listen %q", listen)
	}
}

// A consumer made with StartSeq begins there; made again with another
// start (another instance, a later start), it keeps the first.
func TestEnsureConsumerStartSeqKeepsTheFirstStart(t *testing.T) {
	ctx := context.Background()
	_, js := jetStreamServer(t)
	require.NoError(t, broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1))
	for i := range 10 {
		_, err := js.Publish(ctx, "hms.workflow.updated", []byte(`{"id":"wf-`+strconv.Itoa(i)+`"}`))
		require.NoError(t, err)
	}
	spec := broker.ConsumerSpec{Stream: "HMS_EVENTS", Durable: "extsync-court", Filters: []string{"hms.workflow.updated"},
		AckWait: 30 * time.Second, MaxAckPending: 100, StartSeq: 8}
	c, err := broker.EnsureConsumer(ctx, js, spec)
	require.NoError(t, err)
	spec.StartSeq = 3
	_, err = broker.EnsureConsumer(ctx, js, spec)
	require.NoError(t, err)
	b, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	m := <-b.Messages()
	require.NotNil(t, m)
	meta, err := m.Metadata()
	require.NoError(t, err)
	require.EqualValues(t, 8, meta.Sequence.Stream)
}
