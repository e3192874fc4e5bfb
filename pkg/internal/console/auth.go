package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/internal/admin"
)

// Login cookie: "<role>.<expiry unix>.<nonce>.<mac>", the MAC keyed by the
// role's token (so a changed token ends its logins, and every instance
// with the same tokens accepts it); without tokens, by a key of this
// process (loopback callers only, who get an admin login at once: the
// cookie then carries only the CSRF binding).
const (
	cookieName = "extsync_login"
	loginTTL   = 12 * time.Hour
	csrfField  = "csrf"
)

type auth struct {
	adm     *admin.Server
	loopKey []byte
	origin  *http.CrossOriginProtection
}

func newAuth(s *admin.Server) *auth {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	return &auth{adm: s, loopKey: k, origin: http.NewCrossOriginProtection()}
}

// who is the caller of a console request.
type who struct {
	Role   admin.Role
	Tokens bool // tokens are set: a logout button makes sense
	Actor  string
	csrf   string
}

// Admin says the caller may change things: the templates show change
// buttons only then.
func (w who) Admin() bool { return w.Role == admin.RoleAdmin }

type whoKey struct{}

func whoOf(r *http.Request) who {
	w, _ := r.Context().Value(whoKey{}).(who)
	return w
}

func (a *auth) key(role admin.Role) []byte {
	if !a.adm.TokensSet() {
		return a.loopKey
	}
	tok := a.adm.RoleToken(role)
	if tok == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(tok))
	m.Write([]byte("extsync console login"))
	return m.Sum(nil)
}

func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "|")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *auth) issue(role admin.Role, now time.Time) string {
	exp := strconv.FormatInt(now.Add(loginTTL).Unix(), 10)
	r := strconv.Itoa(int(role))
	n := make([]byte, 16)
	_, _ = rand.Read(n)
	nonce := base64.RawURLEncoding.EncodeToString(n)
	return r + "." + exp + "." + nonce + "." + mac(a.key(role), "login", r, exp, nonce)
}

// loggedIn checks a cookie value and returns its role.
func (a *auth) loggedIn(v string, now time.Time) admin.Role {
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return admin.RoleNone
	}
	n, err := strconv.Atoi(parts[0])
	role := admin.Role(n)
	if err != nil || (role != admin.RoleViewer && role != admin.RoleAdmin) {
		return admin.RoleNone
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	key := a.key(role)
	if err != nil || key == nil || now.Unix() > exp {
		return admin.RoleNone
	}
	if !hmac.Equal([]byte(parts[3]), []byte(mac(key, "login", parts[0], parts[1], parts[2]))) {
		return admin.RoleNone
	}
	return role
}

func (a *auth) csrf(role admin.Role, login string) string {
	return mac(a.key(role), "csrf", login)
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost or a loopback address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func setLogin(w http.ResponseWriter, r *http.Request, v string, maxAge int) {
	// #nosec G124 -- Secure whenever served over TLS; the admin address is plain HTTP on loopback by default, where a Secure cookie would not come back
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// require serves h to callers with at least role min: others are sent
// to the login form (GET) or refused (POST). A POST must also be
// same-origin and carry the login's CSRF token.
func (a *auth) require(min admin.Role, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var role admin.Role
		var sess string
		if c, err := r.Cookie(cookieName); err == nil {
			sess, role = c.Value, a.loggedIn(c.Value, now)
		}
		if !a.adm.TokensSet() {
			if !admin.FromLoopback(r) {
				http.Error(w, "the console answers only on loopback when EXTSYNC_ADMIN_TOKEN is not set", http.StatusForbidden)
				return
			}
			if !loopbackHost(r.Host) {
				// A page of another site whose name now resolves to
				// 127.0.0.1 (DNS rebinding) must not read or drive it.
				http.Error(w, "without EXTSYNC_ADMIN_TOKEN, open the console as localhost or a loopback address", http.StatusForbidden)
				return
			}
			if role == admin.RoleNone {
				sess, role = a.issue(admin.RoleAdmin, now), admin.RoleAdmin
				setLogin(w, r, sess, int(loginTTL/time.Second))
			}
		}
		if role == admin.RoleNone {
			if r.Method == http.MethodGet {
				// #nosec G710 -- a fixed path of this server; the request's own path rides along query-escaped
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if role < min {
			http.Error(w, "the viewer token reads; this needs the admin token", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := a.origin.Check(r); err != nil {
				http.Error(w, "cross-site request refused", http.StatusForbidden)
				return
			}
			if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(a.csrf(role, sess))) {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		v := who{Role: role, Tokens: a.adm.TokensSet(), Actor: "console:" + role.String() + "@" + host, csrf: a.csrf(role, sess)}
		h(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, v)))
	})
}
