package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/internal/batch"
)

// Bucket is the KV bucket of entity state.
const Bucket = "extsync_state"

// ErrSuperseded marks an event older than (or the same as) what was
// delivered or is being delivered for its entity: it is acked, not sent.
var ErrSuperseded = errors.New("a newer version of the entity was delivered or is being delivered")

// ErrUnchanged marks an event whose mapped record, under the same
// mapping, is the one the system last confirmed: it is acked, not sent.
var ErrUnchanged = errors.New("the mapped record is the one the system last confirmed")

// State is one connector's knowledge of one entity.
type State struct {
	Version string `json:"version,omitempty"` // last version delivered
	Seq     uint64 `json:"seq,omitempty"`     // its stream sequence
	Claim   *Claim `json:"claim,omitempty"`   // a delivery under way
	// ETag and Snapshot are the system's record version and the record
	// as last sent (its JSON text, kept as text: it is compared as text
	// and decoded only for a merge or a verify): If-Match for the next
	// write, the base of a merge.
	ETag     string          `json:"etag,omitempty"`
	Snapshot json.RawMessage `json:"snapshot,omitempty"`
	// Mapping names the mapping the snapshot was made with: a record
	// mapped otherwise is not unchanged, whatever its fields.
	Mapping string `json:"mapping,omitempty"`
	// Drifted is set when verify found the system's record differing
	// from Snapshot; the next delivery clears it.
	Drifted bool `json:"drifted,omitempty"`
	// Deleted says the last delivery was a deletion: the system should
	// hold no record of the entity (Snapshot is the deletion's record,
	// which names it). Version still orders: an older update after it
	// is superseded.
	Deleted bool `json:"deleted,omitempty"`
}

// Synced is what a successful delivery leaves: the system's version of
// the record, and the record as sent.
type Synced struct {
	ETag     string
	Snapshot json.RawMessage // see RecordJSON
	Mapping  string
	// Deleted: the delivery removed the entity's record.
	Deleted bool
}

// Record is the snapshot decoded; nil when there is none.
func (st State) Record() map[string]any {
	if len(st.Snapshot) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(st.Snapshot, &m) != nil {
		return nil
	}
	return m
}

// RecordJSON is record as a snapshot keeps it; nil for no record.
func RecordJSON(record map[string]any) json.RawMessage {
	if record == nil {
		return nil
	}
	b, err := json.Marshal(record)
	if err != nil {
		return nil
	}
	return b
}

// Claim is held while one version is being sent; it lapses at Until, so
// an instance that dies holding it blocks the entity only that long.
type Claim struct {
	Version string    `json:"version"`
	Seq     uint64    `json:"seq"`
	Until   time.Time `json:"until"`
}

// Store reads and writes entity state. It remembers what this instance
// last read or wrote of each entity (known), so a claim is usually one
// compare-and-set, not a read and a write.
type Store struct {
	kv    jetstream.KeyValue
	js    jetstream.JetStream
	known known
}

// Open creates the bucket when missing.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "extsync per connector and entity: last delivered version, claims",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv, js: js}, nil
}

var keySafe = regexp.MustCompile(`^[-_=a-zA-Z0-9]+$`)

// key names connector's entity in the bucket; entity keys with other
// characters are hashed.
func key(connector, entity string) string {
	if keySafe.MatchString(entity) && len(entity) <= 128 {
		return connector + "." + entity
	}
	sum := sha256.Sum256([]byte(entity))
	return connector + ".h-" + hex.EncodeToString(sum[:12])
}

func (s *Store) get(ctx context.Context, k string) (State, uint64, error) {
	e, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return State{}, 0, nil
	}
	if err != nil {
		return State{}, 0, err
	}
	var st State
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return State{}, 0, fmt.Errorf("state %s: %w", k, err)
	}
	return st, e.Revision(), nil
}

// put writes st if the entry is still at rev (0: absent) and returns its
// new revision; false when another writer got there first.
func (s *Store) put(ctx context.Context, k string, st State, rev uint64) (uint64, bool, error) {
	b := encode(&st)
	var err error
	var next uint64
	if rev == 0 {
		next, err = s.kv.Create(ctx, k, b)
	} else {
		next, err = s.kv.Update(ctx, k, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
		return 0, false, nil
	}
	return next, err == nil, err
}

// putAsync is put without waiting: the write is published at once and
// the future says whether it was stored (a wrong-sequence error when
// another writer got there first).
func (s *Store) putAsync(k string, st *State, rev uint64) (jetstream.PubAckFuture, error) {
	m := nats.NewMsg("$KV." + Bucket + "." + k)
	m.Data = encode(st)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	return s.js.PublishMsgAsync(m)
}

// encode is st as the bucket holds it.
func encode(st *State) []byte { return appendState(make([]byte, 0, 128+len(st.Snapshot)), st) }

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// newer says whether version v at seq is newer than the state's version.
func newer(v string, seq uint64, than string, thanSeq uint64) bool {
	return batch.Newer(v, seq, than, thanSeq)
}
