// Command extsync keeps external systems in step with HMS platform events.
// main only wires settings, broker, pipeline and CLI; the work is in pkg/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/telemetry"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks bad arguments or configuration: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "extsync:", err)
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, config.ErrInvalid) || isCobraUsage(err) {
		return exitUsage
	}
	return exitFailure
}

// isCobraUsage recognises cobra's own argument errors, which it returns
// untyped.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.Contains(msg, "arg(s)") ||
		strings.HasPrefix(msg, "invalid argument") || strings.HasPrefix(msg, "flag needs an argument")
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "extsync",
		Short: "Keep external systems in step with HMS platform events",
		Long: `extsync reads HMS platform events from NATS JetStream and pushes each one,
mapped, to the external systems agencies use (court scheduling APIs, clinic
calendars, document stores, legacy databases), with retries, a dead-letter
stream and a sync log.

Process settings (environment):
` + config.Usage(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServe(), newDemo(), newPublish(), newBench(), newDLQ(), newLog(), newConnectors(), newBatch(), newConflicts())
	return root
}

// newLogger builds the process logger from the settings.
func newLogger(w io.Writer, s config.Settings) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.LogLevel)); err != nil {
		return nil, usageError{fmt.Errorf("EXTSYNC_LOG_LEVEL=%q: want debug, info, warn or error", s.LogLevel)}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if s.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(telemetry.LogHandler{Handler: h}), nil
}
