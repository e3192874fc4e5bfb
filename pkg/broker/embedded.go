package broker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MaxPayload is the embedded server's message size limit. It is above the
// NATS default (1 MiB) so that an oversized event still reaches extsync and
// is refused with a clear reason in the dead-letter stream, rather than
// failing at the publisher with nothing recorded.
const MaxPayload = 8 << 20

// EmbeddedOptions configure the embedded server.
type EmbeddedOptions struct {
	// Listen is host:port for clients; port 0 picks a free port.
	Listen   string
	StoreDir string
	// SyncAlways fsyncs every write: acknowledged events survive power
	// loss, at a cost in throughput. Off, the store flushes every 2 min
	// and survives a process crash but not an OS crash.
	SyncAlways bool
	// Logger receives the server's own log lines; nil keeps it quiet.
	Logger server.Logger
}

// StartEmbedded starts a JetStream server in this process.
func StartEmbedded(o EmbeddedOptions) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen address %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS listen address %q: bad port", o.Listen)
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded NATS listen address %q: port out of range", o.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if l, err := net.Listen("tcp", o.Listen); err != nil {
		// nats-server would wait out its readiness timeout and lose the cause.
		return nil, fmt.Errorf("embedded NATS cannot listen on %s: %w", o.Listen, err)
	} else {
		_ = l.Close()
	}
	opts := &server.Options{
		ServerName: "extsync-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: o.SyncAlways,
		MaxPayload: MaxPayload,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(o.Logger, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not become ready (is the port taken?)", o.Listen)
	}
	return s, nil
}
