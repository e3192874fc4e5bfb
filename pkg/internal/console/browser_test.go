package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/console"
	"github.com/hms/extsync/pkg/internal/service"
)

const chromium = "/usr/bin/chromium"

// court is the external system: down (503) until up is set, and it
// refuses (422) the event wf-bad while down.
type court struct {
	*httptest.Server
	up        atomic.Bool
	mu        sync.Mutex
	delivered map[string]int
}

func newCourt(t *testing.T) *court {
	c := &court{delivered: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case c.up.Load():
			c.mu.Lock()
			c.delivered[r.URL.Path]++
			c.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/wf-bad":
			http.Error(w, "unknown courtroom", http.StatusUnprocessableEntity)
		default:
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *court) got(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivered[path]
}

func checkKinds(c *config.Connector) error {
	conn, err := catalog.Default().New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
	if err != nil {
		return err
	}
	return conn.Close()
}

// serveAll runs the service (pipeline, connector store) and the admin
// server with the API and the console, as `extsync serve` wires them.
func serveAll(t *testing.T, ns *server.Server, doc string) string {
	t.Helper()
	_, sources, err := connstore.Split([]byte(doc))
	require.NoError(t, err)
	s := config.Settings{NATSURL: ns.ClientURL(), Stream: "HMS_EVENTS", Replicas: 1, LogMaxAge: time.Hour,
		Drain: 5 * time.Second, QueueBytes: 1 << 20}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	svc, err := service.Start(ctx, s, nil, service.Options{Kinds: catalog.Default(), Logger: log,
		Sources: sources, Env: func(string) (string, bool) { return "", false }, Check: checkKinds})
	require.NoError(t, err)
	adm, err := admin.New(admin.Options{Addr: "127.0.0.1:0", Token: "adm-secret", ViewerToken: "view-secret", Ready: svc.Ready})
	require.NoError(t, err)
	adm.MountOps(admin.Ops{JS: svc.JetStream(), Connectors: func(context.Context) []admin.ConnectorView { return nil }})
	con := console.Mount(adm, console.Options{JS: svc.JetStream(), Status: svc.Status, Refresh: time.Second,
		TraceURL: "http://jaeger.local:16686/trace/{trace_id}", Logger: log})
	done := make(chan error, 3)
	go func() { done <- svc.Run(ctx) }()
	go func() { done <- adm.Run(ctx) }()
	go func() { done <- con.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		require.NoError(t, <-done)
	})
	return "http://" + adm.Addr()
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("no " + chromium + " (apt-get install chromium); CI runs this test")
		}
		t.Fatalf("CI needs %s: %v", chromium, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 860))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	return ctx
}

// step runs actions with a deadline: every wait in them is bounded.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(sctx, actions...), what)
}

// shot saves the page as docs/console/<name>.png with
// EXTSYNC_UPDATE_SCREENSHOTS=1.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("EXTSYNC_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot "+name)
	dir := filepath.Join("..", "..", "..", "docs", "console")
	require.NoError(t, os.MkdirAll(dir, 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o600))
}

func login(t *testing.T, ctx context.Context, base, token string) {
	t.Helper()
	step(t, ctx, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("form.login button")),
		chromedp.WaitVisible(chromedp.CSS("#overview")))
}

func publishWithID(t *testing.T, js jetstream.JetStream, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, "hms.workflow.updated", []byte(`{"id":"`+id+`","courtroom":"4B"}`), jetstream.WithMsgID(id))
	require.NoError(t, err)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "read "+sel)
	return s
}

// outer is the HTML of the element sel.
func outer(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	require.NoError(t, err, "read "+sel)
	return s
}
