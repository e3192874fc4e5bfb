package snapshot

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

// The snapshot stream and its writer's consumer on the event stream.
const (
	Stream        = "EXTSYNC_SNAPSHOT"
	SubjectPrefix = "extsync.snapshot."
	Durable       = "extsync-snapshot"
	// HeaderVersion is the entity version an entry holds ("" for an
	// unversioned event), path-escaped, so reading it needs no decoding.
	HeaderVersion = "Extsync-Entity-Version"
)

// StreamConfig keeps one message per subject, that is per entity, for
// as long as the stream exists: no age limit, as an entity whose last
// event is years old still has a newest version.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              Stream,
		Description:       "extsync snapshot: the newest event of every entity",
		Subjects:          []string{SubjectPrefix + ">"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		// Entries are read one subject at a time (the writer after a
		// refused write, repairs, resync --entity): direct gets, served
		// by the stream itself rather than through the JetStream API.
		AllowDirect: true,
		Replicas:    max(replicas, 1),
	}
}

// Spec is how a connector reads an event's entity key and version: its
// key and version paths (CloudEvents carry both as attributes; the paths
// apply where they do not). Entries are kept per key path: connectors
// that read the key alike share them, whatever their version paths, so
// a connector added later with another version path still finds every
// entity. Versions are read with every version path known for the key
// path, the first that gives one.
type Spec struct {
	Key, Version string
}

// SpecOf is the connector's spec.
func SpecOf(c *config.Connector) Spec {
	s := Spec{Key: c.Key, Version: c.Version}
	if s.Key == "" {
		s.Key = "id"
	}
	return s
}

// DefaultSpec is the paths of a connector that sets neither: key id, no
// version (CloudEvents still give theirs).
var DefaultSpec = Spec{Key: "id"}

// Token names the spec's key path in subjects: "d" for the default (id),
// else a short hash of the path (subject-safe whatever it holds).
func (s Spec) Token() string {
	if s.Key == DefaultSpec.Key || s.Key == "" {
		return "d"
	}
	sum := sha256.Sum256([]byte(s.Key))
	return "h" + hex.EncodeToString(sum[:6])
}

// EntityToken is key as a subject token: base64url without padding, so
// dots, spaces and wildcards in keys cannot change the subject's shape.
func EntityToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// subject is where an entity's newest event on eventSubject is kept,
// its key path named by token. The entity comes before the event's
// subject so that a connector's subjects, wildcards included, select its
// entries (see Filters).
func subject(token, key, eventSubject string) string {
	return SubjectPrefix + token + "." + EntityToken(key) + "." + eventSubject
}

// Filters select the entries of a connector reading subjects with spec
// s, of every entity (key "") or of one.
func Filters(s Spec, subjects []string, key string) []string {
	ent := "*"
	if key != "" {
		ent = EntityToken(key)
	}
	out := make([]string, 0, len(subjects))
	for _, sub := range subjects {
		out = append(out, SubjectPrefix+s.Token()+"."+ent+"."+sub) // as subject(), wildcards allowed
	}
	return out
}

// Specs is the distinct specs of the connectors, the default always
// among them: what a writer keeps entries for.
func Specs(conns []config.Connector) []Spec {
	out := []Spec{DefaultSpec}
	for i := range conns {
		if s := SpecOf(&conns[i]); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// keyPath is one key path and the version paths known for it.
type keyPath struct {
	token, key string
	versions   []string
}

// keyPaths groups specs by key path.
func keyPaths(specs []Spec) []keyPath {
	var out []keyPath
	for _, s := range specs {
		i := slices.IndexFunc(out, func(k keyPath) bool { return k.token == s.Token() })
		if i < 0 {
			out = append(out, keyPath{token: s.Token(), key: cmp.Or(s.Key, DefaultSpec.Key)})
			i = len(out) - 1
		}
		if s.Version != "" && !slices.Contains(out[i].versions, s.Version) {
			out[i].versions = append(out[i].versions, s.Version)
		}
	}
	return out
}

// read decodes m's entity key and version with k's paths.
func (k keyPath) read(m event.Message) (*event.Event, error) {
	var first string
	if len(k.versions) > 0 {
		first = k.versions[0]
	}
	ev, err := event.Decode(m, event.Options{KeyPath: k.key, VersionPath: first})
	if err != nil {
		return nil, err
	}
	for _, vp := range k.versions[min(1, len(k.versions)):] {
		if ev.Version != "" {
			break
		}
		if ev.Version, _, err = event.LookupScalar(ev.Data, vp); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// strippedHeader reports headers an entry must not carry over from the
// event: the server's own (a Nats-Msg-Id would make the snapshot stream
// drop another spec's copy of the event as a duplicate).
func strippedHeader(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "nats-")
}
