package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/event"
)

// File is a connectors file.
type File struct {
	Connectors []Connector `yaml:"connectors"`
}

// Connector is one entry of the connectors file.
type Connector struct {
	Name        string            `yaml:"name"`
	Kind        string            `yaml:"kind"`
	Subjects    []string          `yaml:"subjects"`
	Mode        Mode              `yaml:"mode"`
	Batch       Batch             `yaml:"batch"`
	Concurrency int               `yaml:"concurrency"`
	Ordering    Ordering          `yaml:"ordering"`
	Key         string            `yaml:"key"`
	Version     string            `yaml:"version"`
	Mapping     map[string]string `yaml:"mapping"`
	// DeleteWhen makes an event whose data meets it a deletion: the
	// entity is gone and the connector removes it from the system.
	// A CloudEvent whose type ends in ".deleted" is one without it.
	DeleteWhen *Condition `yaml:"delete_when"`
	// MaxEventBytes refuses larger events with a clear reason instead of
	// buffering them; default 1 MiB.
	MaxEventBytes  int       `yaml:"max_event_bytes"`
	Retry          Retry     `yaml:"retry"`
	Conflict       Conflict  `yaml:"conflict"`
	RateLimit      Rate      `yaml:"rate_limit"`
	CircuitBreaker *Breaker  `yaml:"circuit_breaker"`
	Throttle       *Throttle `yaml:"throttle"`
	// DegradedAfter is how long the system may keep failing before the
	// connector reports itself degraded (metric, status, log); default 2m.
	DegradedAfter Duration `yaml:"degraded_after"`
	// Start is where a new connector's consumer begins in the stream.
	Start Start `yaml:"start"`
	// SkipUnchanged acks, without sending, an event whose mapped record
	// the system last confirmed; nil: on where it costs nothing (see
	// SkipsUnchanged).
	SkipUnchanged *bool `yaml:"skip_unchanged"`
	// Verify schedules verification rounds; nil: none.
	Verify *Verify `yaml:"verify"`

	// blocks are the kind blocks given (http:, ledger:, ...) by name;
	// only the one named by Kind may be set. See UnmarshalYAML.
	blocks map[string]Block
	// decode fills a kind's settings from its block, with positions.
	decode func(v any) error
	// jitterSet: retry.jitter was written, so 0 means no jitter rather
	// than the default.
	jitterSet bool
	// files are the directories the connector may read files from.
	files *Files
}

// Mode is how a connector sends: one event at a time, or collected
// into batches on a schedule.
type Mode string

// The modes a connector can run in.
const (
	ModeRealtime Mode = "realtime"
	ModeBatch    Mode = "batch"
)

// Ordering says what order a connector keeps among an entity's events.
type Ordering string

// The orderings a connector can keep.
const (
	// OrderingEntity never sends an older version of an entity after a
	// newer one, across instances.
	OrderingEntity Ordering = "entity"
	// OrderingNone sends events as they come, in parallel.
	OrderingNone Ordering = "none"
)

// Start is where a new connector begins reading the event stream.
type Start string

// Where a new connector can start.
const (
	// StartHistory sends every event the stream still holds.
	StartHistory Start = "history"
	// StartNow sends only events published from now on.
	StartNow Start = "now"
	// StartSnapshot sends the newest version of every entity (from
	// EXTSYNC_SNAPSHOT, even where the events aged out of the stream),
	// then every event published after them.
	StartSnapshot Start = "snapshot"
)

// SkipsUnchanged says whether an event whose mapped record the system
// last confirmed is skipped. By default it is for versioned events under
// ordering entity, whose claim confirms the entity's last record at no
// extra cost; `skip_unchanged: true` turns it on for unversioned events
// too, at one state read per event.
func (c *Connector) SkipsUnchanged(versioned bool) bool {
	if c.SkipUnchanged != nil {
		return *c.SkipUnchanged
	}
	return versioned && c.Ordering == OrderingEntity
}

// Deletes says whether ev means its entity is gone: a CloudEvent whose
// type ends in ".deleted", or an event whose data meets delete_when.
func (c *Connector) Deletes(ev *event.Event) bool {
	if ev == nil {
		return false
	}
	return (ev.CloudEvent && strings.HasSuffix(ev.Type, ".deleted")) || c.DeleteWhen.Match(ev.Data)
}

// KeepsRecords says whether the entity state keeps the record of every
// delivered unversioned event (one state write each): when the connector
// is verified on a schedule or skips unchanged records for them. Versioned
// events under ordering entity keep theirs with the claim's release at
// no extra cost.
func (c *Connector) KeepsRecords() bool {
	return c.Verify != nil || (c.SkipUnchanged != nil && *c.SkipUnchanged)
}

// Retry configures backoff for transient failures.
type Retry struct {
	MaxAttempts int      `yaml:"max_attempts"`
	Initial     Duration `yaml:"initial"`
	Max         Duration `yaml:"max"`
	Multiplier  float64  `yaml:"multiplier"`
	Jitter      float64  `yaml:"jitter"`
}

// Conflict configures what a 409/412 from the external system leads to.
type Conflict struct {
	Strategy string `yaml:"strategy"`
	// Fields set, per field of the mapped record (dotted), which side the
	// merge rule keeps when both changed it: local or remote.
	Fields map[string]ConflictField `yaml:"fields"`
	// MaxRounds bounds how often overwrite and merge read the record and
	// send again when it keeps moving (default 3).
	MaxRounds int `yaml:"max_rounds"`
}

// ConflictField is one field's merge rule.
type ConflictField struct {
	Prefer string `yaml:"prefer"`
}

// Breaker configures the per-connector circuit breaker.
type Breaker struct {
	FailureRatio float64  `yaml:"failure_ratio"`
	MinRequests  int      `yaml:"min_requests"`
	Delay        Duration `yaml:"delay"`
}

// Conflict strategies.
const (
	ConflictRetry      = "retry"
	ConflictOverwrite  = "overwrite"
	ConflictRemoteWins = "remote-wins"
	ConflictMerge      = "merge"
	ConflictManual     = "manual"
)

var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,48}$`)

// Decode fills v (the kind's own settings struct) from the kind block.
func (c *Connector) Decode(v any) error {
	if c.decode == nil {
		return nil
	}
	return c.decode(v)
}

// Files are the directories the connector may read files from (see
// Files); its kind gets them through Decode when it is a FileUser.
func (c *Connector) Files() *Files { return c.files }

// Block returns the block named after the connector's kind.
func (c *Connector) Block() Block {
	return c.blocks[c.Kind]
}

// Durable is the name of the connector's JetStream consumer.
func (c *Connector) Durable() string { return "extsync-" + c.Name }

func (c *Connector) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeRealtime
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Ordering == "" {
		c.Ordering = OrderingEntity
	}
	if c.Start == "" {
		c.Start = StartHistory
	}
	if c.Key == "" {
		c.Key = "id"
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = 1 << 20
	}
	r := &c.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = 10
	}
	if r.Initial == 0 {
		r.Initial = Duration(time.Second)
	}
	if r.Max == 0 {
		r.Max = Duration(10 * time.Minute)
	}
	if r.Multiplier == 0 {
		r.Multiplier = 2
	}
	if r.Jitter == 0 && !c.jitterSet {
		r.Jitter = 0.2
	}
	if c.Mode == ModeBatch {
		c.Batch.setDefaults()
	}
	if c.Conflict.Strategy == "" {
		c.Conflict.Strategy = ConflictRetry
	}
	if c.Conflict.MaxRounds == 0 {
		c.Conflict.MaxRounds = 3
	}
	if c.Throttle != nil {
		c.Throttle.setDefaults()
	}
	if c.DegradedAfter == 0 {
		c.DegradedAfter = Duration(2 * time.Minute)
	}
	if b := c.CircuitBreaker; b != nil {
		if b.MinRequests == 0 {
			b.MinRequests = 20
		}
		if b.Delay == 0 {
			b.Delay = Duration(30 * time.Second)
		}
	}
}

// fieldErr is a validation problem at a field path below the connector.
type fieldErr struct {
	field, msg string
}

// Validate checks one connector after defaults; the returned problems name
// the field below the connector (e.g. "retry.jitter").
func (c *Connector) validate() []fieldErr {
	var errs []fieldErr
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldErr{field, fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(c.Name) {
		bad("name", "%q must be 1 to 48 of a-z, 0-9 and -", c.Name)
	}
	if c.Kind == "" {
		bad("kind", "is required (http, webhook, soap, sftp or sql)")
	}
	if len(c.Subjects) == 0 {
		bad("subjects", "at least one subject is required, e.g. [hms.workflow.updated]")
	}
	for i, s := range c.Subjects {
		if !validSubject(s) {
			bad(fmt.Sprintf("subjects[%d]", i), "%q is not a valid NATS subject", s)
		}
	}
	switch c.Mode {
	case ModeRealtime:
	case ModeBatch:
		errs = append(errs, c.Batch.validate()...)
	default:
		bad("mode", "%q is not one of realtime, batch", c.Mode)
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("concurrency", "%d is out of range 1..1024", c.Concurrency)
	}
	if c.Ordering != OrderingEntity && c.Ordering != OrderingNone {
		bad("ordering", "%q is not one of entity, none", c.Ordering)
	}
	if c.Start != StartHistory && c.Start != StartNow && c.Start != StartSnapshot {
		bad("start", "%q is not one of history, now, snapshot", c.Start)
	}
	if c.MaxEventBytes < 0 {
		bad("max_event_bytes", "must be positive")
	}
	errs = append(errs, c.validateMapping()...)
	errs = append(errs, c.Retry.validate()...)
	switch c.Conflict.Strategy {
	case ConflictRetry, ConflictOverwrite, ConflictRemoteWins, ConflictMerge, ConflictManual:
	default:
		bad("conflict.strategy", "%q is not one of retry, overwrite, remote-wins, merge, manual", c.Conflict.Strategy)
	}
	for f, rule := range c.Conflict.Fields {
		if rule.Prefer != "local" && rule.Prefer != "remote" {
			bad("conflict.fields."+f+".prefer", "%q is not one of local, remote", rule.Prefer)
		}
	}
	if c.Conflict.MaxRounds < 1 || c.Conflict.MaxRounds > 10 {
		bad("conflict.max_rounds", "%d is out of range 1..10", c.Conflict.MaxRounds)
	}
	if b := c.CircuitBreaker; b != nil && (b.FailureRatio <= 0 || b.FailureRatio > 1) {
		bad("circuit_breaker.failure_ratio", "%v is out of range (0, 1]", b.FailureRatio)
	}
	if c.Throttle != nil {
		errs = append(errs, c.Throttle.validate()...)
	}
	if c.DegradedAfter < 0 {
		bad("degraded_after", "must be positive")
	}
	return errs
}

func (c *Connector) validateMapping() []fieldErr {
	var errs []fieldErr
	seen := map[string]string{}
	for _, from := range sortedKeys(c.Mapping) {
		to := c.Mapping[from]
		if !validPath(from) || !validPath(to) {
			errs = append(errs, fieldErr{"mapping." + from, fmt.Sprintf("%q: %q is not a dotted path", from, to)})
			continue
		}
		if prev, dup := seen[to]; dup {
			errs = append(errs, fieldErr{"mapping." + from, fmt.Sprintf("%q and %q both map to %q", prev, from, to)})
		}
		seen[to] = from
	}
	// A target inside another target would write into a value copied
	// from the event (and clash with it): x and x.y cannot both be set.
	for to := range seen {
		for other, from := range seen {
			if strings.HasPrefix(other, to+".") {
				errs = append(errs, fieldErr{"mapping." + from, fmt.Sprintf("target %q is inside target %q", other, to)})
			}
		}
	}
	return errs
}

func (r Retry) validate() []fieldErr {
	var errs []fieldErr
	if r.MaxAttempts < 1 {
		errs = append(errs, fieldErr{"retry.max_attempts", "must be at least 1"})
	}
	if r.Max < r.Initial {
		errs = append(errs, fieldErr{"retry.max", "is below retry.initial"})
	}
	if r.Multiplier < 1 {
		errs = append(errs, fieldErr{"retry.multiplier", "must be at least 1"})
	}
	if r.Jitter < 0 || r.Jitter >= 1 {
		errs = append(errs, fieldErr{"retry.jitter", "must be in [0, 1)"})
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func validPath(p string) bool {
	if p == "" {
		return false
	}
	for seg := range strings.SplitSeq(p, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

func validSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		if t == "" || (t == ">" && i != len(toks)-1) {
			return false
		}
	}
	return true
}
