package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// readyReport tells whoever started serve where it listens, which it
// cannot know beforehand when an address has port 0.
type readyReport struct {
	NATSURL  string `json:"nats_url"`
	HTTPAddr string `json:"http_addr"`
	PID      int    `json:"pid"`
}

// announceReady waits until the service delivers (NATS connected, streams
// there, connectors consuming), then logs "ready" and writes the report to
// path when one is set. It returns once announced or when ctx ends.
func announceReady(ctx context.Context, ready func(context.Context) error, r readyReport, path string, log *slog.Logger) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		checkCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(checkCtx)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	log.Info("ready", "nats_url", r.NATSURL, "http_addr", r.HTTPAddr, "pid", r.PID)
	if path == "" {
		return nil
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	return writeAtomic(path, append(data, '\n'))
}

// writeAtomic replaces path with data so that a reader never sees a
// partly written file: a temporary file in the same directory, renamed.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("ready file: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("ready file %s: %w", path, err)
	}
	return nil
}
