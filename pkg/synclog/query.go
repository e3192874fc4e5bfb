package synclog

import (
	"context"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
)

// Filter selects sync log records; zero fields select everything.
type Filter struct {
	Connector string
	EventID   string
	Entity    string
	// Status is an outcome (delivered, retry, dead-lettered, ...) or the
	// external system's status code (503).
	Status string
	Since  time.Time
	// Follow keeps reading new records until ctx ends.
	Follow bool
}

// Query calls fn for every record f selects, oldest first: everything
// that happened to one event, across attempts and replays, with EventID.
func Query(ctx context.Context, js jetstream.JetStream, f Filter, fn func(Record) error) error {
	o := broker.ScanOptions{Since: f.Since, Follow: f.Follow}
	if f.Connector != "" {
		o.Filters = []string{SubjectPrefix + f.Connector}
	}
	return broker.Scan(ctx, js, Stream, o, func(m jetstream.Msg) error {
		recs, _ := Decode(m.Data()) // a damaged line loses only itself and those after it
		for _, r := range recs {
			if f.matches(r) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (f Filter) matches(r Record) bool {
	switch {
	case f.EventID != "" && r.EventID != f.EventID:
		return false
	case f.Entity != "" && r.Entity != f.Entity:
		return false
	case !f.Since.IsZero() && r.Time.Before(f.Since):
		return false // a group stored after Since may start earlier
	case f.Status == "":
		return true
	}
	if code, err := strconv.Atoi(f.Status); err == nil {
		return r.Status == code
	}
	return r.Outcome == f.Status
}
