package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/synclog"
)

// RunServer starts a JetStream server that stops when the test ends.
func RunServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := broker.StartEmbedded(broker.EmbeddedOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect opens a connection to s that closes when the test ends.
func Connect(t testing.TB, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// Provision creates the event stream (HMS_EVENTS), EXTSYNC_DLQ,
// EXTSYNC_REPLAY and EXTSYNC_LOG, as the service does at start.
func Provision(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := broker.EnsureEventStream(ctx, js, "HMS_EVENTS", 1); err != nil {
		t.Fatal(err)
	}
	if err := broker.EnsureStream(ctx, js, deadletter.StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	if err := broker.EnsureStream(ctx, js, deadletter.ReplayStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	if err := broker.EnsureStream(ctx, js, synclog.StreamConfig(time.Hour, 1)); err != nil {
		t.Fatal(err)
	}
}

// Messages returns every message stored on stream for subject (all
// subjects when empty), oldest first.
func Messages(t testing.TB, js jetstream.JetStream, stream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if subject == "" || m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}
