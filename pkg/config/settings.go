package config

import (
	"bytes"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Prefix is the environment prefix of every process setting.
const Prefix = "EXTSYNC"

// Settings are the process settings, read from EXTSYNC_* variables.
type Settings struct {
	NATSURL      string        `envconfig:"NATS_URL" desc:"NATS servers to use; empty: run an embedded JetStream server"`
	NATSListen   string        `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222" desc:"embedded server's client address (port 0: any free port)"`
	NATSSync     string        `envconfig:"NATS_SYNC" desc:"embedded server's fsync: empty (flush every 2 min; fast) or always (every write; survives power loss)"`
	NATSUser     string        `envconfig:"NATS_USER" desc:"user name for an external NATS"`
	NATSPassword Secret        `envconfig:"NATS_PASSWORD" desc:"password for an external NATS"`
	NATSToken    Secret        `envconfig:"NATS_TOKEN" desc:"auth token for an external NATS"`
	NATSCreds    string        `envconfig:"NATS_CREDS" desc:"credentials file (JWT + NKey) for an external NATS"`
	NATSNKey     string        `envconfig:"NATS_NKEY" desc:"NKey seed file for an external NATS"`
	NATSTLSCert  string        `envconfig:"NATS_TLS_CERT" desc:"client certificate (PEM) for TLS to NATS"`
	NATSTLSKey   string        `envconfig:"NATS_TLS_KEY" desc:"client key (PEM) for TLS to NATS"`
	NATSTLSCA    string        `envconfig:"NATS_TLS_CA" desc:"CA bundle (PEM) that signs the NATS servers' certificates"`
	DataDir      string        `envconfig:"DATA_DIR" default:"./data" desc:"embedded server's storage directory"`
	Connectors   string        `envconfig:"CONNECTORS" default:"connectors.yaml" desc:"connectors file"`
	Stream       string        `envconfig:"STREAM" default:"HMS_EVENTS" desc:"stream that captures hms.> events"`
	StreamMaxAge time.Duration `envconfig:"STREAM_MAX_AGE" default:"0" desc:"how long the event stream keeps events (0: extsync sets no limit, and leaves an existing stream's as it is); the snapshot keeps each entity's newest version beyond it"`
	Replicas     int           `envconfig:"REPLICAS" default:"1" desc:"replicas of the streams and KV buckets extsync creates (3 on a clustered NATS)"`
	HTTPAddr     string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:8080" desc:"admin API and console address (port 0: any free port; see READY_FILE)"`
	ReadyFile    string        `envconfig:"READY_FILE" desc:"serve writes {nats_url, http_addr, pid} here as JSON once it delivers, and removes it at a clean exit"`
	AdminToken   Secret        `envconfig:"ADMIN_TOKEN" desc:"bearer token for the admin API and the console (read and change)"`
	ViewerToken  Secret        `envconfig:"VIEWER_TOKEN" desc:"read-only token for the admin API and the console (403 on any change)"`
	TraceURL     string        `envconfig:"TRACE_URL" desc:"trace link template for the console, e.g. http://jaeger:16686/trace/{trace_id}"`
	HTTPTLSCert  string        `envconfig:"HTTP_TLS_CERT" desc:"PEM certificate: serve the admin API and console over HTTPS (with HTTP_TLS_KEY); read again when the file changes"`
	HTTPTLSKey   string        `envconfig:"HTTP_TLS_KEY" desc:"PEM private key for HTTP_TLS_CERT"`
	LogLevel     string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat    string        `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`
	LogMaxAge    time.Duration `envconfig:"SYNCLOG_MAX_AGE" default:"168h" desc:"how long the sync log (EXTSYNC_LOG) keeps records"`
	Drain        time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"how long shutdown waits for in-flight deliveries"`
	QueueBytes   ByteSize      `envconfig:"QUEUE_BYTES" default:"32MiB" desc:"bytes of events each connector holds waiting for a worker (per consumer); the rest wait in JetStream"`
	FileSettings
}

// LoadSettings reads the process settings from the environment.
func LoadSettings() (Settings, error) {
	var s Settings
	if err := envconfig.Process(Prefix, &s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.resolveFiles(); err != nil {
		return s, err
	}
	return s, s.Validate()
}

// Validate checks values envconfig cannot.
func (s Settings) Validate() error {
	switch {
	case s.StreamMaxAge < 0:
		return fmt.Errorf("%w: EXTSYNC_STREAM_MAX_AGE=%s: want 0 (no limit) or more", ErrInvalid, s.StreamMaxAge)
	case s.NATSSync != "" && s.NATSSync != "always":
		return fmt.Errorf("%w: EXTSYNC_NATS_SYNC=%q: want empty or always", ErrInvalid, s.NATSSync)
	case s.LogFormat != "text" && s.LogFormat != "json":
		return fmt.Errorf("%w: EXTSYNC_LOG_FORMAT=%q: want text or json", ErrInvalid, s.LogFormat)
	case s.Stream == "":
		return fmt.Errorf("%w: EXTSYNC_STREAM is empty", ErrInvalid)
	case s.Replicas < 1 || s.Replicas > 5:
		return fmt.Errorf("%w: EXTSYNC_REPLICAS=%d: want 1 to 5 (JetStream's limit)", ErrInvalid, s.Replicas)
	case s.TraceURL != "" && !strings.Contains(s.TraceURL, "{trace_id}"):
		return fmt.Errorf("%w: EXTSYNC_TRACE_URL=%q: want a URL with {trace_id} in it", ErrInvalid, s.TraceURL)
	case s.QueueBytes < 64<<10:
		return fmt.Errorf("%w: EXTSYNC_QUEUE_BYTES=%d: want 64KiB or more", ErrInvalid, s.QueueBytes)
	}
	return nil
}

// Usage lists every variable with its default and meaning, for --help.
func Usage() string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	_ = envconfig.Usagef(Prefix, &Settings{}, tw,
		"{{range .}}  {{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}")
	_ = tw.Flush()
	return buf.String()
}

// Secret is a string that never prints: logs, errors and JSON show
// "[redacted]" instead.
type Secret string

func (s Secret) String() string { return redact(string(s)) }

// GoString keeps %#v from printing the value too.
func (s Secret) GoString() string { return redact(string(s)) }

// MarshalText redacts in JSON and slog text output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redact(string(s))), nil }

// Reveal returns the real value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}
