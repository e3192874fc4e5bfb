package webhook

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/pkg/config"
)

// Body formats.
const (
	// BodyMapped sends the mapped event data as a JSON object.
	BodyMapped = "mapped"
	// BodyCloudEvent sends a structured CloudEvent whose data is the
	// mapped event data.
	BodyCloudEvent = "cloudevent"
)

// secretPrefix starts every Standard Webhooks secret.
const secretPrefix = "whsec_"

// minKeyBytes is the shortest key accepted: Standard Webhooks asks for
// 24 to 64 random bytes.
const minKeyBytes = 24

// Config is the connector's `webhook:` block.
type Config struct {
	URL string `yaml:"url"`
	// Secret is one signing secret, "whsec_" + base64 of the key.
	Secret string `yaml:"secret"`
	// Secrets are signing secrets in use together during a rotation
	// (old and new); every request is signed with each of them.
	Secrets []string          `yaml:"secrets"`
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
	Timeout config.Duration   `yaml:"timeout"`
	Auth    *auth.Config      `yaml:"auth"`
}

// reserved are headers the connector sets itself; configuring them would
// break the signature or the delivery guarantees.
var reserved = []string{"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key", "content-type"}

func (c *Config) setDefaults() {
	if c.Body == "" {
		c.Body = BodyMapped
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(10 * time.Second)
	}
}

// validate checks the block and returns the signing keys, in configured
// order without repeats. Messages never echo a secret, header value or
// auth value; a bad secret is named by its place in the block.
func (c *Config) validate() ([][]byte, error) {
	if c.URL == "" {
		return nil, errors.New("webhook.url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook.url must be an absolute http:// or https:// URL")
	}
	switch c.Body {
	case BodyMapped, BodyCloudEvent:
	default:
		return nil, fmt.Errorf("webhook.body %q: want mapped or cloudevent", c.Body)
	}
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	for name := range c.Headers {
		if name == "" || strings.ContainsAny(name, " :\r\n\t") {
			return nil, fmt.Errorf("webhook.headers: %q is not a valid header name", name)
		}
		for _, r := range reserved {
			if strings.EqualFold(name, r) {
				return nil, fmt.Errorf("webhook.headers: %s is set by the connector and cannot be configured", http.CanonicalHeaderKey(name))
			}
		}
	}
	if c.Timeout <= 0 {
		return nil, errors.New("webhook.timeout must be positive")
	}
	if err := c.Auth.Validate("webhook.auth"); err != nil {
		return nil, err
	}
	return keys, nil
}

func (c *Config) keys() ([][]byte, error) {
	type entry struct{ field, value string }
	var entries []entry
	if c.Secret != "" {
		entries = append(entries, entry{"webhook.secret", c.Secret})
	}
	for i, s := range c.Secrets {
		entries = append(entries, entry{fmt.Sprintf("webhook.secrets[%d]", i), s})
	}
	if len(entries) == 0 {
		return nil, errors.New("webhook: a signing secret is required (secret: whsec_..., or secrets: [old, new] during a rotation)")
	}
	var keys [][]byte
	seen := map[string]bool{}
	for _, e := range entries {
		key, err := decodeSecret(e.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (the value is not shown)", e.field, err)
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// decodeSecret returns the key of a "whsec_<base64>" secret. Its errors
// never quote the secret, nor the base64 decoder's message.
func decodeSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	rest, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("must start with " + secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("is not " + secretPrefix + " followed by standard base64")
	}
	if len(key) < minKeyBytes {
		return nil, fmt.Errorf("is too short: the key must be at least %d bytes (%d base64 characters after %s)",
			minKeyBytes, base64.StdEncoding.EncodedLen(minKeyBytes), secretPrefix)
	}
	return key, nil
}

// UseFiles confines the files the block names (auth.tls) to files
// (config.FileUser).
func (c *Config) UseFiles(files *config.Files) { c.Auth.UseFiles(files) }
