package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hms/extsync/pkg/config"
)

// Auth holds the ways to authenticate to an external NATS.
type Auth struct {
	User, Password, Token string
	CredsFile, NKeyFile   string
	TLSCert, TLSKey, CA   string
	// PasswordFile, when set, holds the password (EXTSYNC_NATS_PASSWORD_FILE):
	// it is read again at each reconnect, so a rotated password takes
	// effect without a restart.
	PasswordFile string
	// Log receives asynchronous errors, such as a permission NATS refused
	// (see Explain); nil is slog.Default().
	Log *slog.Logger
}

// Connect dials the servers in urls (comma-separated) and keeps
// reconnecting forever once connected: a NATS restart must not end the
// process.
func Connect(ctx context.Context, urls, name string, a Auth) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.ErrorHandler(errorHandler(a.Log)),
	}
	switch {
	case a.User != "" && a.PasswordFile != "":
		opts = append(opts, nats.UserInfoHandler(passwordFromFile(a.User, a.Password, a.PasswordFile, a.Log)))
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	}
	if a.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	if a.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("NATS nkey %s: %w", a.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if a.TLSCert != "" || a.TLSKey != "" {
		opts = append(opts, nats.ClientCert(a.TLSCert, a.TLSKey))
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(urls, opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			var ue *url.Error
			if errors.As(r.err, &ue) { // its text repeats the raw URL, password included
				return nil, fmt.Errorf("connect to NATS at %s: cannot parse the URL", Redact(urls))
			}
			return nil, fmt.Errorf("connect to NATS at %s: %w", Redact(urls), r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connect to NATS at %s: %w", Redact(urls), ctx.Err())
	}
}

// Redact drops passwords and tokens from NATS URLs, for messages. It
// handles what nats.go accepts: URLs without a scheme, and text url.Parse
// cannot read, where everything before the last @ is masked.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		at := strings.LastIndex(p, "@")
		if at < 0 {
			parts[i] = p
			continue
		}
		scheme := ""
		if j := strings.Index(p, "://"); j >= 0 && j < at {
			scheme = p[:j+3]
		}
		parts[i] = scheme + "redacted" + p[at:]
	}
	return strings.Join(parts, ",")
}

// passwordFromFile reads the password file at each connect; if the file
// cannot be read then, the password read at start is used.
func passwordFromFile(user, atStart, path string, log *slog.Logger) nats.UserInfoCB {
	f := config.NewSecretFile(path)
	return func() (string, string) {
		p, err := f.Value()
		if err != nil {
			if log == nil {
				log = slog.Default()
			}
			log.Warn("NATS password file unreadable; using the password read at start", "err", err)
			return user, atStart
		}
		return user, p
	}
}
