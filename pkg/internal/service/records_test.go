package service_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker/brokertest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/deadletter"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/service"
	publisher "github.com/hms/extsync/pkg/publish"
	"github.com/hms/extsync/pkg/synclog"
)

// recordLog keeps every sync log record an instance writes.
type recordLog struct {
	mu   sync.Mutex
	recs []synclog.Record
}

func (l *recordLog) add(r synclog.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r)
}

func (l *recordLog) find(fn func(synclog.Record) bool) (synclog.Record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if fn(r) {
			return r, true
		}
	}
	return synclog.Record{}, false
}

// TestRecordsReadWell checks what the sync log and the serve log say of
// an event: the status of a success, a superseded event's plain reason,
// and for a replayed dead letter the event stream's sequence and the
// attempt count carried on from the dead letter.
func TestRecordsReadWell(t *testing.T) {
	ns := brokertest.RunServer(t)
	_, js := brokertest.Connect(t, ns)
	court := newSink(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/bad") {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	_, sources, err := connstore.Split([]byte(doc("court", "hms.workflow.updated", court.URL)))
	require.NoError(t, err)
	recs := &recordLog{}
	log := &logBuffer{}
	s := config.Settings{NATSURL: ns.ClientURL(), Stream: "HMS_EVENTS", Replicas: 1, LogMaxAge: time.Hour, Drain: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := service.Start(ctx, s, nil, service.Options{
		Kinds: catalog.Default(), Logger: slog.New(slog.NewTextHandler(log, nil)),
		Sources: sources, Env: noEnv, Check: checkKinds, OnRecord: recs.add,
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	pub := publisher.New(js, "test")
	bg := context.Background()

	// A success keeps the status; an older version after it is superseded
	// with the plain reason.
	_, err = pub.Publish(bg, "hms.workflow.updated", `{"id":"wf-1"}`, publisher.WithVersion("2"))
	require.NoError(t, err)
	var delivered synclog.Record
	require.Eventually(t, func() bool {
		var ok bool
		delivered, ok = recs.find(func(r synclog.Record) bool { return r.Entity == "wf-1" && r.Outcome == "delivered" })
		return ok
	}, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusCreated, delivered.Status)
	_, err = pub.Publish(bg, "hms.workflow.updated", `{"id":"wf-1"}`, publisher.WithVersion("1"))
	require.NoError(t, err)
	var stale synclog.Record
	require.Eventually(t, func() bool {
		var ok bool
		stale, ok = recs.find(func(r synclog.Record) bool { return r.Entity == "wf-1" && r.Outcome == "superseded" })
		return ok
	}, 20*time.Second, 10*time.Millisecond)
	require.NotEmpty(t, stale.Error)
	require.False(t, strings.HasPrefix(stale.Error, "transient"), stale.Error)

	// A refused event, dead-lettered, then replayed and refused again.
	res, err := pub.Publish(bg, "hms.workflow.updated", `{"id":"bad-1"}`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, ok := recs.find(func(r synclog.Record) bool { return r.Entity == "bad-1" && r.Outcome == "dead-lettered" })
		return ok
	}, 20*time.Second, 10*time.Millisecond)
	_, err = deadletter.RunReplay(bg, js, deadletter.Action{Filter: deadletter.Filter{Connector: "court"}, Actor: "test"})
	require.NoError(t, err)
	var again synclog.Record
	require.Eventually(t, func() bool {
		var ok bool
		again, ok = recs.find(func(r synclog.Record) bool { return r.Entity == "bad-1" && r.ReplayOf != 0 })
		return ok
	}, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, res.Seq, again.StreamSeq, "the event stream's sequence, not the replay stream's")
	require.Equal(t, 2, again.Attempt, "the dead letter's attempt, then this one")
	require.Eventually(t, func() bool {
		return len(log.lines(`msg=dead-lettered`, "seq="+itoa(res.Seq), "attempt=2")) == 1
	}, 20*time.Second, 10*time.Millisecond, log.String())
	entries, err := deadletter.Collect(bg, js, deadletter.Filter{Connector: "court"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, 2, entries[0].Attempts, "dlq ls counts the same attempts")
}

func itoa(n uint64) string { return uintString(n) }

func uintString(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
