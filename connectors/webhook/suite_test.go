package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/connectors/webhook"
	"github.com/hms/extsync/pkg/config"
)

func secret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// check builds the connector the way `extsync serve` validates a file.
func check(c *config.Connector) error {
	conn, err := webhook.Factory{}.New(connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
	if err != nil {
		return err
	}
	return conn.Close()
}

// fromYAML builds a connector from a connectors file whose webhook block
// is block, with ${VAR} resolved from env.
func fromYAML(t *testing.T, block string, env map[string]string) connectors.Connector {
	t.Helper()
	doc := "connectors:\n  - name: c\n    kind: webhook\n    subjects: [hms.x]\n    webhook:\n" + block
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f, err := config.Parse("suite.yaml", []byte(doc), lookup, check)
	require.NoError(t, err)
	c, err := webhook.Factory{}.New(connectors.Spec{Name: "c", Concurrency: 4, Decode: f.Connectors[0].Decode})
	require.NoError(t, err)
	return c
}

func TestSuite(t *testing.T) {
	sec := secret(t)
	wh, err := standardwebhooks.NewWebhook(sec)
	require.NoError(t, err)
	var mu sync.Mutex
	var got []string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var v struct{ ID string }
		if err := json.Unmarshal(body, &v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, v.ID)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "payload rejected", http.StatusBadRequest)
	}))
	t.Cleanup(bad.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	env := map[string]string{"HOOK_SECRET": sec}
	newAt := func(url string) func(t *testing.T) connectors.Connector {
		return func(t *testing.T) connectors.Connector {
			return fromYAML(t, fmt.Sprintf("      url: %s/hooks\n      secret: ${HOOK_SECRET}\n      timeout: 2s\n", url), env)
		}
	}
	connectortest.Run(t, connectortest.Harness{
		New:            newAt(ok.URL),
		NewUnreachable: newAt(down),
		Rejecting:      newAt(bad.URL),
		Received: func(*testing.T) []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), got...)
		},
	})
}

// The README's block, read from YAML: rotation secrets from the
// environment, a CloudEvent body, headers, timeout and auth.
func TestYAMLBlock(t *testing.T) {
	old, next := secret(t), secret(t)
	var mu sync.Mutex
	var hdr http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hdr, body = r.Header.Clone(), b
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	c := fromYAML(t, fmt.Sprintf(`      url: %s/hooks/court
      secrets: ["${HOOK_SECRET_OLD}", "${HOOK_SECRET}"]
      body: cloudevent
      headers: {X-Tenant: hms}
      timeout: 5s
      auth: {bearer: "${HOOK_TOKEN}"}
`, srv.URL), map[string]string{"HOOK_SECRET_OLD": old, "HOOK_SECRET": next, "HOOK_TOKEN": "tok"})
	t.Cleanup(func() { _ = c.Close() })
	require.Equal(t, 5*time.Second, c.Timeout())
	require.NoError(t, c.Deliver(context.Background(), connectortest.Delivery("wf-1", 2)))

	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{old, next} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		require.NoError(t, wh.Verify(body, hdr))
	}
	require.Equal(t, "application/cloudevents+json", hdr.Get("Content-Type"))
	require.Equal(t, "hms", hdr.Get("X-Tenant"))
	require.Equal(t, "Bearer tok", hdr.Get("Authorization"))
	require.Equal(t, "evt-wf-1-2", hdr.Get("webhook-id"))
}

// Errors in the block name the file, line and entry, never the secret.
func TestYAMLErrors(t *testing.T) {
	good := secret(t)
	tests := []struct {
		name  string
		block string
		want  []string
	}{
		{"bad secret in a list", "      url: https://hooks.example/\n      secrets: [" + good + ", whsec_SECRET***]\n",
			[]string{"suite.yaml:", "connectors[0].webhook", "webhook.secrets[1]", "base64"}},
		{"unknown field", "      url: https://hooks.example/\n      secret: " + good + "\n      sekret: SECRET\n",
			[]string{"suite.yaml:8:", "sekret"}},
		{"bad duration", "      url: https://hooks.example/\n      secret: " + good + "\n      timeout: soon\n",
			[]string{"suite.yaml:8:", "invalid duration"}},
		{"no secret", "      url: https://hooks.example/\n",
			[]string{"suite.yaml:", "a signing secret is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "connectors:\n  - name: c\n    kind: webhook\n    subjects: [hms.x]\n    webhook:\n" + tt.block
			_, err := config.Parse("suite.yaml", []byte(doc), nil, check)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, err.Error(), good)
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}
