package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Mount serves h at pattern (a net/http ServeMux pattern under /api/v1/)
// behind the API's access rule: with a token configured every request must
// carry `Authorization: Bearer <token>` (the viewer token only reads: any
// other method is 403); without one the API answers only requests from loopback, so a forgotten token never opens it to the
// network. /healthz, /readyz and /metrics stay open.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.guard(h))
}

func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.TokensSet() {
			if !fromLoopback(r) {
				WriteError(w, http.StatusForbidden, "the admin API answers only on loopback when EXTSYNC_ADMIN_TOKEN is not set")
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		// Refused before the token is looked at, so a guesser held up
		// learns nothing, not even from a right guess.
		if wait := s.failed.Wait(r); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfter(wait)))
			WriteError(w, http.StatusTooManyRequests, "too many wrong tokens from this address: try again later")
			return
		}
		got, _ := bearer(r.Header.Get("Authorization"))
		switch s.TokenRole(got) {
		case RoleNone:
			s.failed.Failed(r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="extsync"`)
			WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		case RoleViewer:
			if !ReadOnly(r.Method) {
				WriteError(w, http.StatusForbidden, "the viewer token reads; changes need the admin token")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// bearer reads an Authorization header's bearer token; the scheme is
// case-insensitive (RFC 9110 section 11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	return token, ok && strings.EqualFold(scheme, "Bearer")
}

// FromLoopback reports whether r came from a loopback address.
func FromLoopback(r *http.Request) bool { return fromLoopback(r) }

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Caller names who made an API request, for the audit record of a
// mutating action: the token is never recorded, only that one was used.
func Caller(r *http.Request) string {
	who := "api"
	if r.Header.Get("Authorization") != "" {
		who = "api(token)"
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return who + "@" + host
}

// WriteJSON writes v as the JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}
