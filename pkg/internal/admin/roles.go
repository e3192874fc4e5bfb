package admin

import (
	"crypto/subtle"
	"net/http"
)

// Role is what a caller may do.
type Role int

// Roles, weakest first.
const (
	RoleNone   Role = iota // nothing
	RoleViewer             // read everything, change nothing
	RoleAdmin              // read and change
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// TokensSet reports whether an admin or a viewer token is configured;
// without either, the API and the console answer loopback callers only,
// as admins.
func (s *Server) TokensSet() bool { return s.token() != "" || s.viewer != "" }

// TokenRole is the role token grants: the admin token RoleAdmin, the
// viewer token RoleViewer, anything else (and "") RoleNone. Comparisons
// take constant time.
func (s *Server) TokenRole(token string) Role {
	if token == "" {
		return RoleNone
	}
	if admin := s.token(); admin != "" && subtle.ConstantTimeCompare([]byte(token), []byte(admin)) == 1 {
		return RoleAdmin
	}
	if s.viewer != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.viewer)) == 1 {
		return RoleViewer
	}
	return RoleNone
}

// RoleToken is the token that grants role ("" when none is set); the
// console keys its logins with it, so changing a token ends the
// logins it opened.
func (s *Server) RoleToken(role Role) string {
	switch role {
	case RoleAdmin:
		return s.token()
	case RoleViewer:
		return s.viewer
	}
	return ""
}

// ReadOnly reports whether method only reads.
func ReadOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Handle serves h at pattern without the API's guard: for the console,
// which has its own (login cookie, CSRF) built on TokenRole.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}
