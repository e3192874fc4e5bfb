package test

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/deadletter"
)

// TestKillDuringReplayLosesNoDeadLetter SIGKILLs `extsync dlq replay`
// half way through 10,000 dead letters: each is still parked or already
// in the replay stream, and a second replay finishes the job.
func TestKillDuringReplayLosesNoDeadLetter(t *testing.T) {
	s := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, s)
	brokertest.Provision(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := js.CreateOrUpdateConsumer(ctx, deadletter.ReplayStream, jetstream.ConsumerConfig{
		Durable: "extsync-court-replay", FilterSubject: deadletter.ReplaySubjectPrefix + "court",
		AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err, "the connector exists (nobody consumes its replays in this test)")
	const n = 10_000
	parker := deadletter.NewParker(js)
	for i := range n {
		require.NoError(t, parker.Park(ctx, &deadletter.Letter{Connector: "court", Stream: "HMS_EVENTS",
			StreamSeq: uint64(i + 1), EventID: fmt.Sprintf("evt-%d", i), Status: "exhausted", Body: []byte(`{}`)}))
	}
	env := []string{"EXTSYNC_NATS_URL=" + s.ClientURL()}

	cmd := exec.Command(binary(t), "dlq", "replay", "--all", "--rate", "4000/s")
	cmd.Env = append(binBaseEnv(t), env...)
	stderr, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	progress := regexp.MustCompile(`replayed (\d+)/10000`)
	sc := bufio.NewScanner(stderr)
	killedAt := 0
	for sc.Scan() {
		if m := progress.FindStringSubmatch(sc.Text()); m != nil {
			killedAt, _ = strconv.Atoi(m[1])
			require.NoError(t, cmd.Process.Kill())
			break
		}
	}
	_ = cmd.Wait()
	require.Greater(t, killedAt, 0)
	require.Less(t, killedAt, n, "killed half way")

	parked, replayed := eventIDs(t, js, deadletter.Stream), replayIDs(t, js)
	for i := range n {
		id := fmt.Sprintf("evt-%d", i)
		require.True(t, parked[id] > 0 || replayed[id] > 0, "%s lost", id)
	}
	t.Logf("killed after %d reported; %d still parked, %d in the replay stream", killedAt, len(parked), len(replayed))

	res := binRun(t, env, "dlq", "replay", "--all")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, eventIDs(t, js, deadletter.Stream), "every dead letter replayed and removed")
	st, err := js.Stream(ctx, deadletter.ReplayStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, n, info.State.Msgs,
		"each dead letter replayed once: its replay's message id deduplicates a second send")
	reportFault(t, faultRow{Fault: "`dlq replay` SIGKILLed half way", Injection: fmt.Sprintf("SIGKILL after %d of %d reported, rerun", killedAt, n),
		Published: n, Delivered: int(info.State.Msgs), Note: "counted: dead letters replayed; a second send is deduplicated"})
}

// replayIDs counts the replay stream's messages by event id. It is a
// work queue, which admits no second consumer, so messages are read one
// by one.
func replayIDs(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range brokertest.Messages(t, js, deadletter.ReplayStream, "") {
		out[m.Header.Get(deadletter.HeaderEventID)]++
	}
	return out
}

// eventIDs counts the messages of a stream by Extsync-Event-Id.
func eventIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	out := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, broker.Scan(ctx, js, stream, broker.ScanOptions{}, func(m jetstream.Msg) error {
		out[m.Headers().Get(deadletter.HeaderEventID)]++
		return nil
	}))
	return out
}
