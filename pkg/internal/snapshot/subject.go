package snapshot

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
		Replicas:          max(replicas, 1),
	}
}

// Spec is how an event's entity key and version are read: a connector's
// key and version paths (CloudEvents carry both as attributes, and the
// paths only apply when they do not).
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

// Token names the spec in subjects: "d" for the default, else a short
// hash of the paths (subject-safe whatever the paths hold).
func (s Spec) Token() string {
	if s == DefaultSpec {
		return "d"
	}
	sum := sha256.Sum256([]byte(s.Key + "\x00" + s.Version))
	return "h" + hex.EncodeToString(sum[:6])
}

// Options are the decoding options the spec stands for.
func (s Spec) Options() event.Options {
	return event.Options{KeyPath: s.Key, VersionPath: s.Version}
}

// EntityToken is key as a subject token: base64url without padding, so
// dots, spaces and wildcards in keys cannot change the subject's shape.
func EntityToken(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// Subject is where the entity key's newest event on eventSubject is kept.
// The entity comes before the event's subject so that a connector's
// subjects, wildcards included, select its entries (see Filters).
func Subject(s Spec, key, eventSubject string) string {
	return SubjectPrefix + s.Token() + "." + EntityToken(key) + "." + eventSubject
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
		out = append(out, SubjectPrefix+s.Token()+"."+ent+"."+sub)
	}
	return out
}

// specsOf is the distinct specs of conns, the default always among them.
func specsOf(conns []*config.Connector) []Spec {
	out := []Spec{DefaultSpec}
	for _, c := range conns {
		s := SpecOf(c)
		if !containsSpec(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsSpec(ss []Spec, s Spec) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Specs is the distinct specs of the connectors, the default always
// among them: what a writer keeps entries for.
func Specs(conns []config.Connector) []Spec {
	ptrs := make([]*config.Connector, len(conns))
	for i := range conns {
		ptrs[i] = &conns[i]
	}
	return specsOf(ptrs)
}

// strippedHeader reports headers an entry must not carry over from the
// event: the server's own (a Nats-Msg-Id would make the snapshot stream
// drop another spec's copy of the event as a duplicate).
func strippedHeader(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "nats-")
}
