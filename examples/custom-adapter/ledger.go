package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/hms/extsync/connectors"
)

// LedgerFactory builds connectors of kind ledger.
type LedgerFactory struct{}

// Kind is the name connectors use in `kind:` and as their block's name.
func (LedgerFactory) Kind() string { return "ledger" }

// ledgerConfig is the `ledger:` block; unknown fields are rejected with
// the file, line and field by Spec.Decode.
type ledgerConfig struct {
	Path string `yaml:"path"`
}

// New checks the block only: it runs when the connectors file is checked,
// before anything may be touched, so the file is opened on first use.
func (LedgerFactory) New(spec connectors.Spec) (connectors.Connector, error) {
	var cfg ledgerConfig
	if err := spec.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("ledger.path is required")
	}
	return &ledger{path: cfg.Path}, nil
}

// ledger appends one JSON line per event. Deliveries come from several
// goroutines; the mutex keeps lines whole.
type ledger struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// entry is one line of the ledger: the event id lets a reader drop the
// repeats that at-least-once delivery can bring.
type entry struct {
	ID      string         `json:"id"`
	Subject string         `json:"subject"`
	Key     string         `json:"key"`
	Data    map[string]any `json:"data"`
}

func (l *ledger) Deliver(ctx context.Context, d *connectors.Delivery) error {
	if err := ctx.Err(); err != nil {
		return connectors.TransientError(0, err)
	}
	line, err := json.Marshal(entry{ID: d.Event.ID, Subject: d.Event.Subject, Key: d.Event.Key, Data: d.Body})
	if err != nil {
		return connectors.PermanentError(0, fmt.Errorf("event %s cannot be written as JSON: %w", d.Event.ID, err))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		if l.f, err = os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
			return classify(fmt.Errorf("open ledger: %w", err))
		}
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return classify(fmt.Errorf("append to ledger: %w", err))
	}
	return nil
}

// classify says what the pipeline does with a failure: a missing
// directory or a file it may not write will not fix itself (dead letter,
// replay after the fix); anything else, a full disk say, may (retry).
func classify(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return connectors.PermanentError(0, err)
	}
	return connectors.TransientError(0, err)
}

func (l *ledger) Timeout() time.Duration { return 5 * time.Second }

func (l *ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
