package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/broker"
	"github.com/hms/extsync/pkg/config"
)

// connectJS reaches the NATS a command works on: EXTSYNC_NATS_URL with
// serve's auth settings, else the embedded server of a running `extsync
// serve` at EXTSYNC_NATS_LISTEN.
func connectJS(ctx context.Context, s config.Settings, name string) (*nats.Conn, jetstream.JetStream, error) {
	url := s.NATSURL
	if url == "" {
		url = "nats://" + s.NATSListen
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := broker.Connect(ctx, url, name, broker.Auth{
		User: s.NATSUser, Password: s.NATSPassword.Reveal(), Token: s.NATSToken.Reveal(),
		CredsFile: s.NATSCreds, NKeyFile: s.NATSNKey,
		TLSCert: s.NATSTLSCert, TLSKey: s.NATSTLSKey, CA: s.NATSTLSCA,
		PasswordFile: s.NATSPasswordFile,
	})
	if err != nil {
		if s.NATSURL != "" {
			return nil, nil, fmt.Errorf("%w (EXTSYNC_NATS_URL=%s: is that NATS up and reachable from here?)", err, s.NATSURL)
		}
		return nil, nil, fmt.Errorf("%w (is `extsync serve` running? Commands reach its embedded server at "+
			"EXTSYNC_NATS_LISTEN=%s; set EXTSYNC_NATS_LISTEN to where it listens, or EXTSYNC_NATS_URL for another NATS)",
			err, s.NATSListen)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// operator names the person running a command, for audit records.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}

// parseWhen reads --since/--until (config.ParseTime), naming the flag.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	t, err := config.ParseTime(v, now)
	if err != nil {
		return t, usageError{fmt.Errorf("--%s %w", flag, err)}
	}
	return t, nil
}

// replicas is EXTSYNC_REPLICAS, for a bucket a command has to create.
func replicas() int {
	if s, err := config.LoadSettings(); err == nil {
		return s.Replicas
	}
	return 1
}
