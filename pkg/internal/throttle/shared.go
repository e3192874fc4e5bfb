package throttle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
)

// Bucket holds every connector's shared rate and its replicas' heartbeats.
const Bucket = "extsync_throttle"

// A replica announces itself every heartbeat and counts as gone after
// three missed ones, so a killed instance's share returns to the others.
const (
	heartbeat = 2 * time.Second
	memberTTL = 3 * heartbeat
	retune    = 200 * time.Millisecond
)

// Open creates the bucket when missing.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "extsync adaptive throttling: shared rate and replicas per connector",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1,
	})
}

// Shared paces one replica of one connector.
type Shared struct {
	p        Params
	kv       jetstream.KeyValue
	rateKey  string
	members  string // key prefix of the replicas' heartbeats
	self     string
	limiter  *rate.Limiter
	log      *slog.Logger
	mu       sync.Mutex
	state    State
	rev      uint64
	seen     map[string]time.Time // replica → last heartbeat seen
	lastRate float64
}

// New returns connector's throttle for the replica named instance (a KV
// key token). Nothing is read or written until Run.
func New(kv jetstream.KeyValue, connector, instance string, p Params, log *slog.Logger) *Shared {
	return &Shared{
		p: p, kv: kv, log: log,
		rateKey: connector + ".rate", members: connector + ".m.", self: instance,
		limiter: rate.NewLimiter(rate.Limit(p.Max), 1),
		seen:    map[string]time.Time{},
	}
}

// Run follows the shared record and the replicas, announces this one and
// keeps the local pace at its share, until ctx ends; then it withdraws.
func (s *Shared) Run(ctx context.Context) {
	beat, tune := time.NewTicker(heartbeat), time.NewTicker(retune)
	defer beat.Stop()
	defer tune.Stop()
	s.announce(ctx)
	updates, stop := s.watch(ctx)
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			gone, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.kv.Delete(gone, s.members+s.self)
			cancel()
			return
		case e, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			if e != nil {
				s.observe(e)
			}
		case <-beat.C:
			s.announce(ctx)
			if updates == nil { // NATS was away when the watch started or it ended: follow again
				stop()
				updates, stop = s.watch(ctx)
			}
		case <-tune.C:
			s.tune(time.Now())
		}
	}
}

// watch follows every key of the connector; a nil channel when it cannot
// (this replica then paces on its own signals until the next try).
func (s *Shared) watch(ctx context.Context) (<-chan jetstream.KeyValueEntry, func()) {
	w, err := s.kv.Watch(ctx, strings.TrimSuffix(s.rateKey, ".rate")+".>")
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("throttle: shared state not followed; pacing on this instance's signals until it is", "err", err)
		}
		return nil, func() {}
	}
	return w.Updates(), func() { _ = w.Stop() }
}

func (s *Shared) announce(ctx context.Context) {
	if _, err := s.kv.Put(ctx, s.members+s.self, nil); err != nil && ctx.Err() == nil {
		s.log.Debug("throttle: heartbeat not stored", "err", err)
	}
}

// observe takes one watched entry: the shared record or a heartbeat.
func (s *Shared) observe(e jetstream.KeyValueEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := strings.CutPrefix(e.Key(), s.members); ok {
		if e.Operation() != jetstream.KeyValuePut {
			delete(s.seen, id)
		} else if id != s.self {
			// The server's write time, so a dead replica's last beat,
			// read when the watch starts, does not count as a live one.
			s.seen[id] = e.Created()
		}
	} else if st := (State{}); e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &st) == nil {
		s.adopt(st, e.Revision())
	}
	s.tuneLocked(time.Now()) // a replica joining or a slow-down elsewhere counts at once
}

// adopt takes a newer shared record; callers hold s.mu.
func (s *Shared) adopt(st State, rev uint64) {
	if rev > s.rev {
		s.state, s.rev = st, rev
	}
}

// replicas counts the live ones, this one included; callers hold s.mu.
func (s *Shared) replicas(now time.Time) int {
	return 1 + s.others(now) // this one, whatever the bucket says
}

// others counts the other replicas still beating; callers hold s.mu.
func (s *Shared) others(now time.Time) int {
	n := 0
	for id, at := range s.seen {
		if id != s.self && now.Sub(at) < memberTTL {
			n++
		}
	}
	return n
}

// tune sets the local pace to this replica's share of the shared rate.
func (s *Shared) tune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tuneLocked(now)
}

func (s *Shared) tuneLocked(now time.Time) {
	mine := s.p.Rate(s.state, now) / float64(s.replicas(now))
	if mine != s.lastRate {
		s.limiter.SetLimitAt(now, rate.Limit(mine))
		s.lastRate = mine
	}
}

// Limit reports the shared rate, this replica's share and the replicas
// counted, for status pages.
func (s *Shared) Limit() (shared, mine float64, replicas int) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	shared, replicas = s.p.Rate(s.state, now), s.replicas(now)
	return shared, shared / float64(replicas), replicas
}

// Wait blocks until this replica may send one request: after any pause
// the system asked for, at its share of the shared rate. alive is called
// every keepAlive while waiting (the message's InProgress).
func (s *Shared) Wait(ctx context.Context, alive func(), keepAlive time.Duration) error {
	for {
		s.mu.Lock()
		pause := time.Until(s.state.PauseUntil)
		s.mu.Unlock()
		if pause > 0 {
			// Wake at the pause's end and reserve then, so the waiting
			// requests leave at the new pace, not all at once.
			if err := sleep(ctx, pause, alive, keepAlive); err != nil {
				return err
			}
			continue
		}
		r := s.limiter.Reserve()
		if err := sleep(ctx, r.Delay(), alive, keepAlive); err != nil {
			r.Cancel()
			return err
		}
		s.mu.Lock()
		paused := time.Now().Before(s.state.PauseUntil)
		s.mu.Unlock()
		if !paused { // a Retry-After that came while waiting holds this one too
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration, alive func(), every time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(max(every, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-tick.C:
			alive()
		}
	}
}

// Slow records a slow-down signal (retryAfter 0 when none was given): the
// shared rate drops by the decrease factor, at most once per cooldown,
// and every replica waits out the Retry-After.
func (s *Shared) Slow(ctx context.Context, retryAfter time.Duration) error {
	for range 5 {
		s.mu.Lock()
		next, changed := s.p.slowed(s.state, time.Now(), retryAfter)
		rev := s.rev
		if changed { // this replica slows at once, whatever the store says
			s.state = next
		}
		s.mu.Unlock()
		if !changed {
			return nil
		}
		s.tune(time.Now())
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if rev == 0 {
			rev, err = s.kv.Create(ctx, s.rateKey, b)
		} else {
			rev, err = s.kv.Update(ctx, s.rateKey, b, rev)
		}
		if err == nil {
			s.mu.Lock()
			s.adopt(next, rev)
			s.mu.Unlock()
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !wrongSequence(err) {
			return fmt.Errorf("throttle %s: %w", s.rateKey, err)
		}
		// Another replica slowed first: take its record and apply this
		// signal on top, unless the cooldown says it is the same one.
		e, err := s.kv.Get(ctx, s.rateKey)
		if err != nil {
			return fmt.Errorf("throttle %s: %w", s.rateKey, err)
		}
		var st State
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			return fmt.Errorf("throttle %s: %w", s.rateKey, err)
		}
		s.mu.Lock()
		s.state, s.rev = st, e.Revision()
		s.mu.Unlock()
	}
	return nil
}

func wrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Read returns connector's shared rate now and its live replicas, from
// the bucket alone, for tools that run no throttle themselves. It reads
// the keys as a replica's watch does, in one pass.
func Read(ctx context.Context, kv jetstream.KeyValue, connector string, p Params) (rate float64, replicas int, err error) {
	w, err := kv.Watch(ctx, connector+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return 0, 0, fmt.Errorf("throttle %s: %w", connector, err)
	}
	defer func() { _ = w.Stop() }()
	s := New(kv, connector, "", p, slog.New(slog.DiscardHandler)) // no replica of its own
	for e := range w.Updates() {
		if e == nil { // the current values are all in
			now := time.Now()
			s.mu.Lock()
			defer s.mu.Unlock()
			return p.Rate(s.state, now), s.others(now), nil
		}
		s.observe(e)
	}
	return 0, 0, fmt.Errorf("throttle %s: %w", connector, ctx.Err())
}

// ParamsOf is the rule a connector's throttle block describes.
func ParamsOf(t *config.Throttle) Params {
	return Params{Max: t.Max.PerSecond(), Min: t.Min.PerSecond(), Increase: t.Increase.PerSecond(),
		Decrease: t.Decrease, Cooldown: time.Second}
}
