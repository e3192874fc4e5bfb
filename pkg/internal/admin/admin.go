package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hms/extsync/pkg/config"
)

// Checker reports whether the service can do its work; nil means ready.
type Checker func(ctx context.Context) error

// Server is the admin HTTP server.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	mux    *http.ServeMux
	token  func() string // the admin token now: a file's is read again when it changes
	viewer string
	tls    bool
	failed *Throttle
}

// Options configure New.
type Options struct {
	Addr    string
	Metrics http.Handler // may be nil
	Ready   Checker
	// Token guards /api/v1 (EXTSYNC_ADMIN_TOKEN); see Mount.
	Token string
	// TokenFile, instead of Token, holds the admin token
	// (EXTSYNC_ADMIN_TOKEN_FILE); a changed file takes effect on the
	// next request, without a restart.
	TokenFile string
	// ViewerToken (EXTSYNC_VIEWER_TOKEN) reads /api/v1 and the console
	// but is refused (403) every change.
	ViewerToken string
	// TLSCert and TLSKey, both set, serve HTTPS with this certificate,
	// read again after the files change (EXTSYNC_HTTP_TLS_CERT, _KEY).
	TLSCert, TLSKey string
}

// New listens on o.Addr and serves the health, readiness and metrics
// endpoints; Mount adds the API's.
func New(o Options) (*Server, error) {
	addr, metrics, ready := o.Addr, o.Metrics, o.Ready
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("admin TLS needs both a certificate and a key (EXTSYNC_HTTP_TLS_CERT, EXTSYNC_HTTP_TLS_KEY)")
	}
	if o.TLSCert != "" {
		certs, err := newCertFiles(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, err
		}
		srv.TLSConfig = certs.config()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin API on %s: %w", addr, err)
	}
	return &Server{srv: srv, ln: ln, mux: mux, token: tokenOf(o), viewer: o.ViewerToken, tls: o.TLSCert != "",
		failed: NewThrottle(time.Now)}, nil
}

// tokenOf is the admin token as o gives it. A token file that cannot be
// read keeps the last token it held: a renewal half written should not
// lock every operator out.
func tokenOf(o Options) func() string {
	if o.TokenFile == "" {
		return func() string { return o.Token }
	}
	f := config.NewSecretFile(o.TokenFile)
	var mu sync.Mutex
	last := o.Token
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		if v, err := f.Value(); err == nil {
			last = v
		}
		return last
	}
}

// Failures counts wrong tokens per client for the API and the console's
// login alike, so a guesser gets one budget across both.
func (s *Server) Failures() *Throttle { return s.failed }

// Handler is the server's whole handler chain.
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the server's base URL, https under TLS.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(shutdownCtx)
	}()
	serve := func() error { return s.srv.Serve(s.ln) }
	if s.tls {
		serve = func() error { return s.srv.ServeTLS(s.ln, "", "") }
	}
	if err := serve(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
