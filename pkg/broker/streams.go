package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EventSubjects is what the event stream captures.
const EventSubjects = "hms.>"

// EnsureEventStream creates the platform's event stream when it is
// missing. An existing stream is left as its owner configured it: extsync
// never deletes or narrows it.
func EnsureEventStream(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	_, err := js.Stream(ctx, name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %s: %w", name, err)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        name,
		Description: "HMS platform events (created by extsync)",
		Subjects:    []string{EventSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  2 * time.Minute,
		Replicas:    max(replicas, 1),
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	return nil
}

// SetEventStreamMaxAge gives the event stream maxAge when it keeps events
// for another time, and returns the age it had (changed false when it
// had maxAge already). Events older than maxAge are then removed by the
// server; extsync's snapshot keeps each entity's newest version.
func SetEventStreamMaxAge(ctx context.Context, js jetstream.JetStream, name string, maxAge time.Duration) (prev time.Duration, changed bool, err error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, false, fmt.Errorf("look up stream %s: %w", name, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxAge == maxAge {
		return maxAge, false, nil
	}
	prev, cfg.MaxAge = cfg.MaxAge, maxAge
	if maxAge > 0 && cfg.Duplicates > maxAge {
		cfg.Duplicates = maxAge // the server wants the window within the age
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return prev, false, fmt.Errorf("stream %s: max age %s: %w", name, maxAge, err)
	}
	return prev, true, nil
}

// EnsureStream creates or updates one of extsync's own streams.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return nil
}

// ConsumerSpec describes a connector's durable pull consumer.
type ConsumerSpec struct {
	Stream        string
	Durable       string
	Filters       []string
	AckWait       time.Duration
	MaxAckPending int
	// FromNow makes a consumer that does not exist yet start with the
	// next event published, not the first one stored. An existing
	// consumer keeps its position either way.
	FromNow bool
	// StartSeq, when set, makes a consumer that does not exist yet start
	// at this stream sequence (a connector seeded from the snapshot).
	StartSeq uint64
}

// EnsureConsumer creates the durable consumer or updates it to spec. A
// new one starts from the first stored event, so nothing published before
// the connector first ran is skipped (unless FromNow). MaxDeliver stays unlimited: extsync counts
// attempts itself and dead-letters, where the server would silently skip.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, s ConsumerSpec) (jetstream.Consumer, error) {
	if err := checkFilters(ctx, js, s); err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       s.Durable,
		Description:   "extsync connector consumer",
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: s.MaxAckPending,
	}
	if existing, err := js.Consumer(ctx, s.Stream, s.Durable); err == nil {
		// The server refuses to change where a consumer starts.
		cfg.DeliverPolicy = existing.CachedInfo().Config.DeliverPolicy
		cfg.OptStartSeq = existing.CachedInfo().Config.OptStartSeq
		cfg.OptStartTime = existing.CachedInfo().Config.OptStartTime
	} else if s.FromNow {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	} else if s.StartSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.StartSeq
	}
	if len(s.Filters) == 1 {
		cfg.FilterSubject = s.Filters[0]
	} else {
		cfg.FilterSubjects = s.Filters
	}
	c, err := js.CreateOrUpdateConsumer(ctx, s.Stream, cfg)
	if err != nil && (s.FromNow || s.StartSeq > 0) {
		// Another instance created it meanwhile, starting elsewhere: its
		// start stands, as for any existing consumer.
		if existing, lerr := js.Consumer(ctx, s.Stream, s.Durable); lerr == nil {
			was := existing.CachedInfo().Config
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = was.DeliverPolicy, was.OptStartSeq, was.OptStartTime
			c, err = js.CreateOrUpdateConsumer(ctx, s.Stream, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s (subjects %v): %w", s.Durable, s.Stream, s.Filters, err)
	}
	return c, nil
}

// checkFilters refuses filters the stream does not capture: the server
// accepts them and the consumer would silently receive nothing.
func checkFilters(ctx context.Context, js jetstream.JetStream, s ConsumerSpec) error {
	st, err := js.Stream(ctx, s.Stream)
	if err != nil {
		return fmt.Errorf("consumer %s: stream %s: %w", s.Durable, s.Stream, err)
	}
	subjects := st.CachedInfo().Config.Subjects
	for _, f := range s.Filters {
		if !slices.ContainsFunc(subjects, func(sub string) bool { return SubjectWithin(f, sub) }) {
			return fmt.Errorf("consumer %s: subject %q is not captured by stream %s (subjects %v)", s.Durable, f, s.Stream, subjects)
		}
	}
	return nil
}

// SubjectWithin reports whether every subject matching filter also matches
// pattern (NATS wildcards: * one token, > the rest).
func SubjectWithin(filter, pattern string) bool {
	f, p := strings.Split(filter, "."), strings.Split(pattern, ".")
	for i, pt := range p {
		if pt == ">" {
			return len(f) > i
		}
		if i >= len(f) {
			return false
		}
		switch {
		case pt == "*":
			if f[i] == ">" {
				return false
			}
		case f[i] != pt:
			return false
		}
	}
	return len(f) == len(p)
}

// EnsureKV binds to the bucket, creating it with cfg when missing. An
// existing bucket is left as it is: an instance or a command started
// with other settings (replicas, say) does not reshape it.
func EnsureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket) // another instance created it meanwhile
		}
	}
	if err != nil {
		return nil, fmt.Errorf("KV %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
