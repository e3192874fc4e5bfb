package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/broker"
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

// Option changes what the command line is built with.
type Option func(*options)

type options struct {
	kinds   *connectors.Kinds
	version string
}

// WithKinds sets the connector kinds every command builds connectors
// from and checks connectors files against; the default is
// catalog.Default(). Start from catalog.Default() and Register more to
// keep the built-in kinds.
func WithKinds(k *connectors.Kinds) Option {
	return func(o *options) { o.kinds = k }
}

// WithVersion sets the version reported by --version and telemetry.
func WithVersion(v string) Option {
	return func(o *options) { o.version = v }
}

func newOptions(opts []Option) *options {
	o := &options{version: "dev"}
	for _, opt := range opts {
		opt(o)
	}
	if o.kinds == nil {
		o.kinds = catalog.Default()
	}
	return o
}

// Main runs the command line on os.Args until it finishes or SIGINT or
// SIGTERM arrives, and returns the exit code: 0 ok, 1 failure, 2 usage.
// A custom binary's main is os.Exit(cli.Main(opts...)).
func Main(opts ...Option) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr, opts...)
}

// Run runs the command line on args (without the program name) until it
// finishes or ctx ends, writing to stdout and stderr, and returns the
// exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	root := newRoot(stdout, stderr, newOptions(opts))
	root.SetArgs(args)
	err := broker.Explain(root.ExecuteContext(ctx))
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "extsync:", err)
	var coded exitError // a command's own code, e.g. verify's 3
	if errors.As(err, &coded) {
		return coded.code
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, config.ErrInvalid) {
		return exitUsage
	}
	return exitFailure
}

// typeUsage makes every argument mistake cobra can find a usageError:
// each command's Args validator is wrapped (flag errors already are, by
// the root's FlagErrorFunc), and a group of subcommands (dlq, connectors,
// ...) refuses an unknown subcommand instead of printing its help and
// succeeding.
func typeUsage(c *cobra.Command) {
	if !c.Runnable() && c.HasSubCommands() {
		c.Args = unknownSubcommand
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	} else if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		typeUsage(sub)
	}
}

// unknownSubcommand refuses any argument to a group of subcommands, with
// cobra's suggestions for a near miss.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageError{fmt.Errorf("%s (commands: %s)", msg, strings.Join(names, ", "))}
}

func newRoot(stdout, stderr io.Writer, o *options) *cobra.Command {
	root := &cobra.Command{
		Use:   "extsync",
		Short: "Keep external systems in step with HMS platform events",
		Long: `extsync reads HMS platform events from NATS JetStream and pushes each one,
mapped, to the external systems agencies use (court scheduling APIs, clinic
calendars, document stores, legacy databases), with retries, a dead-letter
stream and a sync log.

Process settings (environment):
` + config.Usage(),
		Version:       versionString(o.version),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("extsync version {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServe(o), newDemo(), newPublish(o), newBench(o), newDLQ(), newLog(), newConnectors(o), newBatch(), newConflicts(), newVerify(o), newResync(o))
	typeUsage(root)
	return root
}

// versionString is version followed by what the binary knows of its
// build: the module's version, the commit and its date, and the Go
// release (runtime/debug.ReadBuildInfo; "unknown" where the build did not
// record it, as in tests or a build outside a git checkout). Go records
// the commit's time, not the build's: that is the date shown.
func versionString(version string) string {
	module, modVersion, commit, date, goVersion := "github.com/hms/extsync", "unknown", "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			modVersion = bi.Main.Version
		}
		modified := false
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				commit = kv.Value
			case "vcs.time":
				date = kv.Value
			case "vcs.modified":
				modified = kv.Value == "true"
			}
		}
		if modified && commit != "unknown" {
			commit += "+modified"
		}
	}
	return fmt.Sprintf("%s (module %s %s, commit %s of %s, %s)", version, module, modVersion, commit, date, goVersion)
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
