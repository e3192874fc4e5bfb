package coherence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
)

// Bucket is the KV bucket of verification: per connector, the last
// round's result (<connector>.result) and the schedule's lease
// (<connector>.schedule).
const Bucket = "extsync_verify"

// Round is a verification round as `connectors ls` and the admin API
// show it.
type Round struct {
	Connector string    `json:"connector"`
	Trigger   string    `json:"trigger"` // "schedule" or "cli"
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	// Sample is the share checked, in percent; 100: every entity.
	Sample   float64 `json:"sample"`
	Checked  int     `json:"checked"`
	InStep   int     `json:"in_step"`
	Drifted  int     `json:"drifted"`
	Missing  int     `json:"missing"`
	Repaired int     `json:"repaired"`
	Failed   int     `json:"failed,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Entities are the first maxRoundEntities not in step.
	Entities []Entity `json:"entities,omitempty"`
}

const maxRoundEntities = 100

// NewRound summarises a check's result.
func NewRound(trigger string, sample float64, started time.Time, res *Result, err error) Round {
	r := Round{Connector: res.Connector, Trigger: trigger, Started: started.UTC(), Finished: time.Now().UTC(),
		Sample: sample, Checked: res.Checked, InStep: res.InStep, Drifted: res.Drifted, Missing: res.Missing,
		Repaired: res.Repaired, Failed: res.Failed}
	if sample <= 0 || sample > 100 {
		r.Sample = 100
	}
	if err != nil {
		r.Error = err.Error()
	}
	r.Entities = res.Entities[:min(len(res.Entities), maxRoundEntities)]
	return r
}

// Rounds stores rounds and the schedule's leases.
type Rounds struct {
	kv jetstream.KeyValue
}

// OpenRounds creates the bucket when missing.
func OpenRounds(ctx context.Context, js jetstream.JetStream, replicas int) (*Rounds, error) {
	kv, err := broker.EnsureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "extsync verification: last round per connector, schedule leases",
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), History: 1,
	})
	if err != nil {
		return nil, err
	}
	return &Rounds{kv: kv}, nil
}

// Save stores r as its connector's last round.
func (s *Rounds) Save(ctx context.Context, r Round) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("verify round: %w", err)
	}
	if _, err := s.kv.Put(ctx, r.Connector+".result", b); err != nil {
		return fmt.Errorf("KV %s: %w", Bucket, err)
	}
	return nil
}

// LastRound reads connector's last round from js; nil when there is none
// (or no bucket yet).
func LastRound(ctx context.Context, js jetstream.JetStream, connector string) (*Round, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	return (&Rounds{kv: kv}).Last(ctx, connector)
}

// Last reads connector's last round; nil when there is none.
func (s *Rounds) Last(ctx context.Context, connector string) (*Round, error) {
	e, err := s.kv.Get(ctx, connector+".result")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	var r Round
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("KV %s: %s: %w", Bucket, e.Key(), err)
	}
	return &r, nil
}

// lease is the schedule of one connector: who runs a round until when,
// and when the last round started.
type lease struct {
	Holder  string    `json:"holder,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	Started time.Time `json:"started,omitzero"`
}

// Take takes connector's round for holder when one is due (the last
// started every ago or longer) and nobody holds it, for hold; false
// when not due or held. Compare-and-set: of replicas asking at once, one
// gets it.
func (s *Rounds) Take(ctx context.Context, connector, holder string, every, hold time.Duration) (bool, error) {
	k := connector + ".schedule"
	now := time.Now().UTC()
	var cur lease
	var rev uint64
	e, err := s.kv.Get(ctx, k)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return false, fmt.Errorf("KV %s: %w", Bucket, err)
	default:
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			cur = lease{} // unreadable: taken over
		}
	}
	if cur.Holder != "" && now.Before(cur.Until) || now.Before(cur.Started.Add(every)) {
		return false, nil
	}
	b, _ := json.Marshal(lease{Holder: holder, Until: now.Add(hold), Started: now})
	if rev == 0 {
		_, err = s.kv.Create(ctx, k, b)
	} else {
		_, err = s.kv.Update(ctx, k, b, rev)
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return false, nil // another replica took it first
	}
	if err != nil {
		return false, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	return true, nil
}

// Release ends holder's lease on connector's round; the round stays
// counted as started, so the next is due every after it.
func (s *Rounds) Release(ctx context.Context, connector, holder string) error {
	k := connector + ".schedule"
	e, err := s.kv.Get(ctx, k)
	if err != nil {
		return fmt.Errorf("KV %s: %w", Bucket, err)
	}
	var cur lease
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Holder != holder {
		return nil // lapsed and taken over
	}
	cur.Holder, cur.Until = "", time.Time{}
	b, _ := json.Marshal(cur)
	if _, err := s.kv.Update(ctx, k, b, e.Revision()); err != nil {
		return fmt.Errorf("KV %s: %w", Bucket, err)
	}
	return nil
}

// Renew extends holder's lease on connector's round by hold; false when
// the lease lapsed and another replica took it.
func (s *Rounds) Renew(ctx context.Context, connector, holder string, hold time.Duration) (bool, error) {
	k := connector + ".schedule"
	e, err := s.kv.Get(ctx, k)
	if err != nil {
		return false, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	var cur lease
	if json.Unmarshal(e.Value(), &cur) != nil || cur.Holder != holder {
		return false, nil
	}
	cur.Until = time.Now().UTC().Add(hold)
	b, _ := json.Marshal(cur)
	if _, err := s.kv.Update(ctx, k, b, e.Revision()); err != nil {
		return false, fmt.Errorf("KV %s: %w", Bucket, err)
	}
	return true, nil
}
