package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Batch configures mode: batch: a batch is sent when the schedule fires
// (every, or daily at a time) or a size limit is reached, whichever comes
// first.
type Batch struct {
	Every    Duration `yaml:"every"`
	At       string   `yaml:"at"`       // "02:00", daily, in Timezone
	Timezone string   `yaml:"timezone"` // IANA name; default UTC
	// MaxEvents bounds one batch after coalescing (default 10,000).
	MaxEvents int `yaml:"max_events"`
	// MaxBytes bounds the mapped events of one batch (default 8 MiB).
	MaxBytes ByteSize `yaml:"max_bytes"`

	loc *time.Location
}

// MaxBatchEvents is the most max_events can be: every event of a batch is
// held unacked, and JetStream's ack-pending limit must stay above it.
const MaxBatchEvents = 100_000

func (b *Batch) setDefaults() {
	if b.MaxEvents == 0 {
		b.MaxEvents = 10_000
	}
	if b.MaxBytes == 0 {
		b.MaxBytes = 8 << 20
	}
	if b.Timezone == "" {
		b.Timezone = "UTC"
	}
}

// Location is the time zone of At.
func (b Batch) Location() *time.Location {
	if b.loc == nil {
		return time.UTC
	}
	return b.loc
}

// AtClock returns At as hour and minute.
func (b Batch) AtClock() (hour, minute int, ok bool) {
	t, err := time.Parse("15:04", b.At)
	if err != nil {
		return 0, 0, false
	}
	return t.Hour(), t.Minute(), true
}

func (b *Batch) validate() []fieldErr {
	var errs []fieldErr
	bad := func(field, format string, args ...any) {
		errs = append(errs, fieldErr{"batch." + field, fmt.Sprintf(format, args...)})
	}
	if b.Every == 0 && b.At == "" {
		errs = append(errs, fieldErr{"mode", "mode batch needs a schedule: batch.every (e.g. 1h), batch.at (e.g. \"02:00\"), or both"})
	}
	if b.Every != 0 && b.Every.D() < time.Second {
		bad("every", "%s is shorter than 1s", b.Every.D())
	}
	if _, _, ok := b.AtClock(); b.At != "" && !ok {
		bad("at", "%q: want a time of day such as \"02:00\"", b.At)
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		bad("timezone", "%q is not a time zone name such as Europe/Dublin or America/New_York", b.Timezone)
	}
	b.loc = loc
	if b.MaxEvents < 1 || b.MaxEvents > MaxBatchEvents {
		bad("max_events", "%d is out of range 1..%d", b.MaxEvents, MaxBatchEvents)
	}
	if b.MaxBytes < 1 {
		bad("max_bytes", "must be positive")
	}
	return errs
}

// ByteSize is a size written as 8MiB, 512KiB, 1GiB, 100KB or a number of
// bytes.
type ByteSize int64

// UnmarshalYAML parses the size, keeping the value's position on error.
func (s *ByteSize) UnmarshalYAML(n ast.Node) error {
	text, _ := scalarText(n)
	v, err := ParseByteSize(text)
	if err != nil {
		return errAt(n, "%v", err)
	}
	*s = v
	return nil
}

// Decode parses the size from an environment variable (envconfig).
func (s *ByteSize) Decode(text string) error {
	v, err := ParseByteSize(text)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseByteSize parses "8MiB" and the like.
func ParseByteSize(text string) (ByteSize, error) {
	t := strings.TrimSpace(text)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 8MiB, 512KiB or a number of bytes)", text)
	}
	return ByteSize(n * mult), nil
}
