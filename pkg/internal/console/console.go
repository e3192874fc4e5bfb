package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/admin"
	"github.com/hms/extsync/pkg/internal/pipeline"
)

//go:embed templates/*.html static/*
var files embed.FS

// Options are what the console reads and acts on.
type Options struct {
	JS jetstream.JetStream
	// Status reports this instance's connectors (service.Status).
	Status func(ctx context.Context) []pipeline.ConnectorStatus
	// Stream is the event stream (EXTSYNC_STREAM; HMS_EVENTS when empty),
	// from which "send again" takes an event.
	Stream string
	// TraceURL (EXTSYNC_TRACE_URL) turns trace ids into links:
	// {trace_id} is replaced by the id.
	TraceURL string
	// Replicas of the connector store bucket, should the console be the
	// first to open it (EXTSYNC_REPLICAS).
	Replicas int
	// Check validates a connector's kind block with the kinds this
	// instance knows, as serve and PUT /api/v1/connectors do (nil: no
	// kind check); Env resolves ${VAR} for that validation (nil: this
	// process's environment; unset variables are reported, not refused).
	Check config.Checker
	Env   config.LookupEnv
	// Refresh is how often the overview reloads its table (default 5s).
	Refresh time.Duration
	Logger  *slog.Logger
}

// Console serves the pages.
type Console struct {
	o     Options
	auth  *auth
	pages map[string]*template.Template
	act   activityCache
	// replays run in the background, owned by the console: Close stops them.
	replays *replays
	// logins limits failed logins per client, with the API's wrong tokens.
	logins *admin.Throttle
}

// Mount adds the console's pages to s: / and the paths below it that the
// API, health and metrics endpoints do not take. The caller closes the
// console when it stops serving (Close, or Run).
func Mount(s *admin.Server, o Options) *Console {
	c := New(s, o)
	s.Handle("/", c.Handler())
	return c
}

// Close stops the replays under way and waits until each has settled what
// it sent (the rest stay parked); no replay starts after it.
func (c *Console) Close() { c.replays.close() }

// Run waits for ctx to end, then closes the console: it ties the
// console's replays to the serving process's lifetime.
func (c *Console) Run(ctx context.Context) error {
	<-ctx.Done()
	c.Close()
	return nil
}

// New builds a console whose access rule is s's tokens.
func New(s *admin.Server, o Options) *Console {
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Console{o: o, auth: newAuth(s), pages: parsePages(), replays: newReplays(), logins: s.Failures()}
}

// Handler is the console with its security headers on every response.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(files, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.logout)
	mux.Handle("GET /{$}", c.auth.require(admin.RoleViewer, c.overview))
	mux.Handle("GET /dlq", c.auth.require(admin.RoleViewer, c.dlqList))
	mux.Handle("GET /dlq/{seq}", c.auth.require(admin.RoleViewer, c.dlqShow))
	mux.Handle("GET /dlq/confirm", c.auth.require(admin.RoleAdmin, c.dlqConfirm))
	mux.Handle("POST /dlq/replay", c.auth.require(admin.RoleAdmin, c.dlqReplay))
	mux.Handle("GET /dlq/replays/{id}", c.auth.require(admin.RoleViewer, c.replayProgress))
	mux.Handle("POST /dlq/purge", c.auth.require(admin.RoleAdmin, c.dlqPurge))
	mux.Handle("GET /timeline", c.auth.require(admin.RoleViewer, c.timeline))
	mux.Handle("POST /timeline/send-again", c.auth.require(admin.RoleAdmin, c.sendAgain))
	mux.Handle("GET /conflicts", c.auth.require(admin.RoleViewer, c.conflicts))
	mux.Handle("POST /conflicts/resolve", c.auth.require(admin.RoleAdmin, c.resolve))
	mux.Handle("GET /connectors", c.auth.require(admin.RoleViewer, c.connectors))
	mux.Handle("POST /connectors/apply", c.auth.require(admin.RoleAdmin, c.applyConnector))
	mux.Handle("POST /connectors/remove", c.auth.require(admin.RoleAdmin, c.removeConnector))
	return secure(mux)
}

// csp allows this origin's stylesheet, script and images, nothing inline
// but SVG presentation attributes, and no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// secure sets the security headers on every console response.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Who     who
	CSRF    string
	Refresh int    // seconds; 0: no refresh
	Swap    string // the element id the script reloads ("": the overview's table)
	Data    any
}

// render writes page name with data, or a plain error when the template
// fails (a bug, logged).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Who = whoOf(r)
	p.CSRF = p.Who.csrf
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		c.o.Logger.Error("console page", "page", name, "err", err)
		http.Error(w, "page failed; see the log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, b.String())
}

// fail shows an error page: what failed and why.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, title string, err error) {
	c.render(w, r, status, "error.html", page{Title: title, Data: err.Error()})
}
