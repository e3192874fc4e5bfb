package deadletter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/synclog"
)

// replayConsumer makes connector look alive to a replay's checks (nobody
// consumes its replays in these tests).
func replayConsumer(t *testing.T, ctx context.Context, js jetstream.JetStream, connector string) {
	t.Helper()
	_, err := js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-" + connector + "-replay", FilterSubject: deadletter.ReplaySubjectPrefix + connector,
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
}

// audits lists the sync log's admin records as connector:action:count:actor.
func audits(t *testing.T, ctx context.Context, js jetstream.JetStream) []string {
	t.Helper()
	var out []string
	require.NoError(t, synclog.Query(ctx, js, synclog.Filter{Status: synclog.OutcomeAdmin}, func(r synclog.Record) error {
		out = append(out, fmt.Sprintf("%s:%s:%d:%s", r.Connector, r.Action, r.Count, r.Actor))
		return nil
	}))
	return out
}

// replayedSeqs counts the replay stream's messages of connector by the
// dead letter they replay.
func replayedSeqs(t *testing.T, js jetstream.JetStream, connector string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range brokertest.Messages(t, js, deadletter.ReplayStream, deadletter.ReplaySubjectPrefix+connector) {
		out[m.Header.Get(deadletter.HeaderReplayOf)]++
	}
	return out
}

func TestReplayByConnectorSendsItsLettersOnlyAndRecordsWho(t *testing.T) {
	ctx, js := setup(t)
	replayConsumer(t, ctx, js, "court")
	park(t, ctx, js, "court", 1, "permanent", "a")
	park(t, ctx, js, "clinic", 2, "permanent", "b")
	park(t, ctx, js, "court", 3, "exhausted", "c")
	res, err := deadletter.RunReplay(ctx, js, deadletter.Action{Filter: deadletter.Filter{Connector: "court"}, Actor: "cli:alice@ops"})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"court": 2}, res.Replayed)

	sent := brokertest.Messages(t, js, deadletter.ReplayStream, "")
	require.Len(t, sent, 2)
	for _, m := range sent {
		require.Equal(t, deadletter.ReplaySubjectPrefix+"court", m.Subject)
		require.Equal(t, "cli:alice@ops", m.Header.Get(deadletter.HeaderReplayedBy))
		require.Equal(t, `{"id":"wf-1"}`, string(m.Data))
	}
	left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"clinic-2"}, ids(left), "the other connector's letter stays")
	require.Equal(t, []string{"court:dlq replay:2:cli:alice@ops"}, audits(t, ctx, js))
}

// A letter parked again after an earlier replay with --mapping original
// still carries that choice; a replay now with the current mapping must
// not inherit it.
func TestEachReplayStatesItsOwnMappingChoice(t *testing.T) {
	ctx, js := setup(t)
	park(t, ctx, js, "court", 1, "permanent", "a")
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	entries[0].Header.Set(deadletter.HeaderReplayMapping, deadletter.MappingOriginal)
	entries[0].Header.Set(deadletter.HeaderReplayedBy, "cli:bob@ops")
	_, err = deadletter.NewReplayer(js).Replay(ctx, deadletter.ReplayItems(entries, deadletter.MappingCurrent))
	require.NoError(t, err)
	sent := brokertest.Messages(t, js, deadletter.ReplayStream, "")
	require.Len(t, sent, 1)
	require.Empty(t, sent[0].Header.Get(deadletter.HeaderReplayMapping))
	require.Empty(t, sent[0].Header.Get(deadletter.HeaderReplayedBy), "nobody named for this replay")
	require.Equal(t, "1", sent[0].Header.Get(deadletter.HeaderReplayOf))
}

// Two operators replaying the same dead letters at once send each one
// once: the replay's message id is the dead letter's, deduplicated by the
// replay stream, and the second delete finds the letter already gone.
func TestConcurrentReplaysSendEachDeadLetterOnce(t *testing.T) {
	for _, prefix := range []bool{false, true} {
		t.Run(fmt.Sprintf("prefix=%v", prefix), func(t *testing.T) {
			ctx, js := setup(t)
			const n = 300
			for i := range n {
				park(t, ctx, js, "court", uint64(i+1), "permanent", "a")
			}
			entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
			require.NoError(t, err)
			var wg sync.WaitGroup
			res := make([]deadletter.Result, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() {
					r := deadletter.NewReplayer(js)
					r.Prefix = prefix
					res[i], errs[i] = r.Run(ctx, deadletter.ReplayItems(entries, ""))
				})
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
			require.Equal(t, n, res[0].Sent()+res[1].Sent(), "the two replays' counts add up to each letter once")
			require.Equal(t, n, res[0].Gone+res[1].Gone)
			require.Len(t, brokertest.Messages(t, js, deadletter.ReplayStream, ""), n, "each dead letter replayed once")
			left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
			require.NoError(t, err)
			require.Empty(t, left, "every replayed dead letter removed")
		})
	}
}

// An operator reads a selection, another replays it, and minutes later
// (past the replay stream's duplicate window) the first sends it: nothing
// goes twice, because a selection that old is checked against the
// dead-letter stream before it is sent.
func TestAStaleSelectionSendsNothingAlreadyReplayed(t *testing.T) {
	ctx, js := setup(t)
	replayConsumer(t, ctx, js, "court")
	const n = 20
	for i := range n {
		park(t, ctx, js, "court", uint64(i+1), "exhausted", "a")
	}
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	res, err := deadletter.RunReplay(ctx, js, deadletter.Action{Filter: deadletter.Filter{Connector: "court"}})
	require.NoError(t, err)
	require.Equal(t, n, res.Sent())
	forgetDuplicates(t, ctx, js)

	late := deadletter.NewReplayer(js)
	late.Selected = time.Now().Add(-time.Minute)
	res, err = late.Run(ctx, deadletter.ReplayItems(entries, ""))
	require.NoError(t, err)
	require.Zero(t, res.Sent())
	require.Equal(t, n, res.Gone)
	for seq, c := range replayedSeqs(t, js, "court") {
		require.Equal(t, 1, c, "dead letter %s sent twice", seq)
	}
	require.Len(t, replayedSeqs(t, js, "court"), n)
}

// forgetDuplicates shrinks the replay stream's duplicate window and waits
// until it has forgotten the message ids seen so far, as two minutes would.
func forgetDuplicates(t *testing.T, ctx context.Context, js jetstream.JetStream) {
	t.Helper()
	st, err := js.Stream(ctx, deadletter.ReplayStream)
	require.NoError(t, err)
	cfg := st.CachedInfo().Config
	// Twice: on an update nats-server fires its purge timer at once but
	// sets the new window only afterwards, so a purge that wins the race
	// (likely under load) uses the old two minutes and re-arms itself for
	// that long. The second update's purge sees 100 ms.
	for _, window := range []time.Duration{100 * time.Millisecond, 101 * time.Millisecond} {
		cfg.Duplicates = window
		_, err = js.UpdateStream(ctx, cfg)
		require.NoError(t, err)
	}
	probe := &nats.Msg{Subject: deadletter.ReplaySubjectPrefix + "probe", Header: nats.Header{}}
	_, err = js.PublishMsg(ctx, probe, jetstream.WithMsgID("probe"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ack, err := js.PublishMsg(ctx, probe, jetstream.WithMsgID("probe"))
		return err == nil && !ack.Duplicate
	}, 10*time.Second, 20*time.Millisecond, "the duplicate window passes")
}

// Interrupting a paced replay leaves every dead letter either parked or
// replayed, never both and never neither: what was sent is settled.
func TestInterruptedReplaySettlesWhatItSent(t *testing.T) {
	ctx, js := setup(t)
	const n = 40
	for i := range n {
		park(t, ctx, js, "court", uint64(i+1), "exhausted", "a")
	}
	entries, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	go func() {
		defer cancel()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if info, err := js.Stream(ctx, deadletter.ReplayStream); err == nil && info.CachedInfo().State.Msgs >= 5 {
				return
			}
		}
	}()
	r := deadletter.NewReplayer(js)
	r.Every = 20 * time.Millisecond
	res, err := r.Run(rctx, deadletter.ReplayItems(entries, ""))
	close(stop)
	require.ErrorIs(t, err, context.Canceled)
	require.GreaterOrEqual(t, res.Sent(), 5)
	require.Less(t, res.Sent(), n, "interrupted part way")

	replayed := replayedSeqs(t, js, "court")
	left, err := deadletter.Collect(ctx, js, deadletter.Filter{})
	require.NoError(t, err)
	require.Len(t, replayed, res.Sent())
	require.Len(t, left, n-res.Sent())
	for _, e := range left {
		require.Zero(t, replayed[fmt.Sprint(e.Seq)], "dead letter %d both parked and replayed", e.Seq)
	}
}

// BenchmarkReplay replays b.N dead letters as `extsync dlq replay
// --connector court` does (listing included; the letters go with one
// purge per window): events/s.
func BenchmarkReplay(b *testing.B) { benchReplay(b, deadletter.Filter{Connector: "court"}) }

// BenchmarkReplayFiltered is the same with --status, so each letter is
// deleted on its own (32 at a time).
func BenchmarkReplayFiltered(b *testing.B) {
	benchReplay(b, deadletter.Filter{Connector: "court", Status: "exhausted"})
}

func benchReplay(b *testing.B, f deadletter.Filter) {
	s := brokertest.RunServer(b)
	_, js := brokertest.Connect(b, s)
	brokertest.Provision(b, js)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-court-replay", FilterSubject: deadletter.ReplaySubjectPrefix + "court",
		AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		b.Fatal(err)
	}
	parker := deadletter.NewParker(js)
	for i := range b.N {
		if err := parker.Park(ctx, &deadletter.Letter{Connector: "court", Stream: "HMS_EVENTS", StreamSeq: uint64(i + 1),
			EventID: fmt.Sprint(i), Status: "exhausted", Body: make([]byte, 512)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	res, err := deadletter.RunReplay(ctx, js, deadletter.Action{Filter: f})
	if err != nil || res.Sent() != b.N {
		b.Fatalf("replayed %d of %d: %v", res.Sent(), b.N, err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// Published tells the selection's size before the first send and then
// each replay as it is published, also within one paced window.
func TestReplayReportsEachPublish(t *testing.T) {
	ctx, js := setup(t)
	replayConsumer(t, ctx, js, "court")
	for i := range 5 {
		park(t, ctx, js, "court", uint64(i+1), "permanent", "a")
	}
	var got []string
	res, err := deadletter.RunReplay(ctx, js, deadletter.Action{Filter: deadletter.Filter{Connector: "court"},
		Every: time.Millisecond, Published: func(n, total int) { got = append(got, fmt.Sprintf("%d/%d", n, total)) }})
	require.NoError(t, err)
	require.Equal(t, 5, res.Sent())
	require.Equal(t, []string{"0/5", "1/5", "2/5", "3/5", "4/5", "5/5"}, got)
}
