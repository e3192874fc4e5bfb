package test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/synclog"
)

// recordSystem keeps the last record PUT for each id and serves it back.
type recordSystem struct {
	mu      sync.Mutex
	records map[string]map[string]any
	puts    int
}

func (s *recordSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		var rec map[string]any
		raw, _ := io.ReadAll(r.Body)
		if json.Unmarshal(raw, &rec) != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		s.records[id] = rec
		s.puts++
	case http.MethodGet:
		rec, ok := s.records[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(rec)
	}
}

func (s *recordSystem) putCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

// holding counts the records at version v with their delivered room.
func (s *recordSystem) holding(v float64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, rec := range s.records {
		if rec["version"] == v && rec["courtroom"] == "room-"+id {
			n++
		}
	}
	return n
}

func (s *recordSystem) tamper(id string, edit func(rec map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if edit == nil {
		delete(s.records, id)
		return
	}
	edit(s.records[id])
}

// verifyReport is `extsync verify --json`.
type verifyReport struct {
	Connector string `json:"connector"`
	Checked   int    `json:"checked"`
	InStep    int    `json:"in_step"`
	Drifted   int    `json:"drifted"`
	Missing   int    `json:"missing"`
	Repaired  int    `json:"repaired"`
	Entities  []struct {
		Key    string            `json:"key"`
		State  string            `json:"state"`
		Fields []json.RawMessage `json:"fields"`
	} `json:"entities"`
}

// Versioned events (version: version) are ordered by version across
// instances: a repair sends the delivered version again, which ordering
// lets through only for a replay marked Extsync-Repair. Unversioned
// events are sent again because the entity is marked drifted.
func TestVerifyFindsTamperedAndDeletedRecordsAndRepairsThem(t *testing.T) {
	// Unversioned events keep their records where the connector asks:
	// a verify: block (scheduled rounds, which would race this test's
	// own) or skip_unchanged: true.
	for name, versionPath := range map[string]string{"versioned": "version: version", "unversioned": "skip_unchanged: true"} {
		t.Run(name, func(t *testing.T) { verifyAndRepair(t, versionPath) })
	}
}

func verifyAndRepair(t *testing.T, versionPath string) {
	sys := &recordSystem{records: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.Handle("/workflows/{id}", sys)
	fresh := &recordSystem{records: map[string]map[string]any{}}
	mux.Handle("/fresh/{id}", fresh)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	env, js := verifyServe(t, fmt.Sprintf(`connectors:
  - name: court
    kind: http
    subjects: [hms.workflow.updated]
    %s
    mapping: {id: case_id, version: version, room: courtroom}
    http: {url: "%s/workflows/{id}", timeout: 2s}
  - name: hooks
    kind: webhook
    subjects: [hms.policy.updated]
    webhook: {url: "%s/hooks", secret: "%s"}
`, versionPath, srv.URL, srv.URL, secret))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const entities, versions = 20, 3
	for v := 1; v <= versions; v++ {
		for e := range entities {
			_, err := js.Publish(ctx, "hms.workflow.updated",
				fmt.Appendf(nil, `{"id":"wf-%d","version":%d,"room":"room-wf-%d"}`, e, v, e),
				jetstream.WithMsgID(fmt.Sprintf("wf-%d-v%d", e, v)))
			require.NoError(t, err)
		}
	}
	require.Eventually(t, func() bool { return sys.holding(versions) == entities }, time.Minute, 50*time.Millisecond)
	settled(t, ctx, js, "extsync-court")

	tampered, deleted := []string{"wf-2", "wf-7", "wf-11"}, []string{"wf-4", "wf-15"}
	for _, id := range tampered {
		sys.tamper(id, func(rec map[string]any) { rec["courtroom"] = "clerk's choice" })
	}
	for _, id := range deleted {
		sys.tamper(id, nil)
	}

	r := binRun(t, env, "verify", "court", "--all", "--json")
	require.Equal(t, 3, r.code, "some entities not in step: %s %s", r.stderr, r.stdout)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Equal(t, "court", rep.Connector)
	require.Equal(t, entities, rep.Checked)
	require.Equal(t, entities-5, rep.InStep)
	require.Equal(t, 3, rep.Drifted)
	require.Equal(t, 2, rep.Missing)
	var got []string
	for _, e := range rep.Entities {
		got = append(got, e.Key+"="+e.State)
		require.NotEmpty(t, e.Fields)
	}
	require.Equal(t, []string{"wf-11=drifted", "wf-15=missing", "wf-2=drifted", "wf-4=missing", "wf-7=drifted"}, got)

	r = binRun(t, env, "connectors", "ls")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "verify: ")
	require.Contains(t, r.stdout, "drifted 3, missing 2")
	// The admin API and the console's overview show the same round.
	resp, err := http.Get("http://" + envValue(env, "EXTSYNC_HTTP_ADDR=") + "/api/v1/connectors")
	require.NoError(t, err)
	api, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	var views []struct {
		Name   string
		Verify *struct{ Checked, Drifted, Missing int }
	}
	require.NoError(t, json.Unmarshal(api, &views), string(api))
	require.Equal(t, "court", views[0].Name)
	require.NotNil(t, views[0].Verify, string(api))
	require.Equal(t, [3]int{20, 3, 2}, [3]int{views[0].Verify.Checked, views[0].Verify.Drifted, views[0].Verify.Missing})
	resp, err = http.Get("http://" + envValue(env, "EXTSYNC_HTTP_ADDR=") + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(page), "15 of 20 in step, 3 drifted, 2 missing")

	r = binRun(t, env, "verify", "hooks", "--all")
	require.Equal(t, 2, r.code, "a kind that cannot read back is a wrong request")
	require.Contains(t, r.stderr, `kind "webhook"`)

	r = binRun(t, env, "verify", "court", "--all", "--repair", "--json")
	require.Equal(t, 3, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, 5, rep.Repaired)
	require.Eventually(t, func() bool { return sys.holding(versions) == entities }, 30*time.Second, 50*time.Millisecond,
		"repairs delivered; outcomes of the replays: %v", repairOutcomes(t, js))
	settled(t, ctx, js, "extsync-court-replay")
	r = binRun(t, env, "verify", "court", "--all", "--json")
	require.Equal(t, 0, r.code, "all in step after the repair: %s %s", r.stdout, r.stderr)

	newConnectorFromSnapshot(t, ctx, env, js, fresh, fmt.Sprintf(`connectors:
  - name: fresh
    kind: http
    subjects: [hms.workflow.updated]
    start: snapshot
    %s
    mapping: {id: case_id, version: version, room: courtroom}
    http: {url: "%s/fresh/{id}", timeout: 2s}
`, versionPath, srv.URL))

	if versionPath != "skip_unchanged: true" {
		return // a versioned event of the same version is superseded before it is compared
	}
	// An event whose mapped fields are those the system already holds
	// (only an unmapped field changed) sends nothing.
	before := sys.putCount()
	_, err = js.Publish(ctx, "hms.workflow.updated",
		[]byte(`{"id":"wf-0","version":3,"room":"room-wf-0","note":"typo fixed"}`), jetstream.WithMsgID("wf-0-note"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return slices.Contains(entityOutcomes(t, js, "wf-0"), "unchanged") }, 30*time.Second,
		50*time.Millisecond, "the sync log records the event as unchanged")
	settled(t, ctx, js, "extsync-court")
	require.Equal(t, before, sys.putCount(), "nothing sent for an unchanged record")
}

// newConnectorFromSnapshot applies doc, a connector "fresh" that starts
// from the snapshot: its system gets exactly each entity's newest
// version, once; wiped, `resync` puts all of them back.
func newConnectorFromSnapshot(t *testing.T, ctx context.Context, env []string, js jetstream.JetStream, fresh *recordSystem, doc string) {
	const entities, newest = 20, 3
	r := binRun(t, env, "connectors", "apply", "-f", binWriteFile(t, "fresh.yaml", doc))
	require.Equal(t, 0, r.code, r.stderr)
	require.Eventually(t, func() bool { return fresh.holding(newest) == entities }, time.Minute, 50*time.Millisecond,
		"each entity's newest version sent to the new connector")
	settled(t, ctx, js, "extsync-fresh-replay")
	settled(t, ctx, js, "extsync-fresh")
	require.Equal(t, entities, fresh.putCount(), "exactly one request per entity, no older version")

	fresh.mu.Lock()
	clear(fresh.records)
	fresh.mu.Unlock()
	r = binRun(t, env, "resync", "fresh", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var rep struct{ Entities, Sent int }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	require.Equal(t, entities, rep.Sent)
	require.Eventually(t, func() bool { return fresh.holding(newest) == entities }, time.Minute, 50*time.Millisecond,
		"resync puts every entity back")
	settled(t, ctx, js, "extsync-fresh-replay")
	require.Equal(t, 2*entities, fresh.putCount(), "resync sent each entity once")
}

// entityOutcomes lists the sync log outcomes of court's entity.
func entityOutcomes(t *testing.T, js jetstream.JetStream, entity string) []string {
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := synclog.Query(ctx, js, synclog.Filter{Connector: "court", Entity: entity}, func(r synclog.Record) error {
		out = append(out, r.Outcome)
		return nil
	})
	require.NoError(t, err)
	return out
}

// verifyServe runs `extsync serve` on its embedded NATS with the
// connectors document doc and returns its environment (for the CLI) and
// a JetStream client.
func verifyServe(t *testing.T, doc string) ([]string, jetstream.JetStream) {
	t.Helper()
	env := append(binBaseEnv(t), "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", doc), "EXTSYNC_LOG_LEVEL=warn")
	killStartTo(t, env, &lockedBuffer{})
	nc, err := nats.Connect("nats://" + envValue(env, "EXTSYNC_NATS_LISTEN="))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return env, js
}

// settled waits until consumer has nothing pending or unacknowledged.
func settled(t *testing.T, ctx context.Context, js jetstream.JetStream, consumer string) {
	t.Helper()
	stream := "HMS_EVENTS"
	if strings.HasSuffix(consumer, "-replay") {
		stream = "EXTSYNC_REPLAY"
	}
	require.Eventually(t, func() bool {
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}, time.Minute, 50*time.Millisecond, "consumer %s settled", consumer)
}

// repairOutcomes lists the sync log outcomes of replayed attempts.
func repairOutcomes(t *testing.T, js jetstream.JetStream) []string {
	var out []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := synclog.Query(ctx, js, synclog.Filter{Connector: "court"}, func(r synclog.Record) error {
		if r.Actor != "" && r.Action == "" {
			out = append(out, r.Outcome)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}
