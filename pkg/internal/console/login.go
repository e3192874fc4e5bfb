package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/internal/admin"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// next is where to go after login: a path of this console only, never
// another site.
func next(r *http.Request) string {
	n := r.FormValue("next")
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return "/"
	}
	return n
}

type loginData struct {
	Next  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if !c.auth.adm.TokensSet() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login.html", page{Title: "Log in", Data: loginData{Next: next(r)}})
}

// login takes a token and opens a login with its role. The form is
// same-origin only; it carries no CSRF token (there is no login yet).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := c.auth.origin.Check(r); err != nil {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	// Refused before the token is looked at, so a guesser held up learns
	// nothing, not even from a right guess.
	if wait := c.logins.Wait(r); wait > 0 {
		secs := admin.RetryAfter(wait)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.render(w, r, http.StatusTooManyRequests, "login.html", page{Title: "Log in",
			Data: loginData{Next: next(r), Error: fmt.Sprintf("Too many failed logins from this address: try again in %d s.", secs)}})
		return
	}
	role := c.auth.adm.TokenRole(r.PostFormValue("token"))
	if role == admin.RoleNone {
		c.logins.Failed(r)
		c.render(w, r, http.StatusUnauthorized, "login.html", page{Title: "Log in",
			Data: loginData{Next: next(r), Error: "That token is not the admin or the viewer token."}})
		return
	}
	setLogin(w, r, c.auth.issue(role, time.Now()), int(loginTTL/time.Second))
	http.Redirect(w, r, next(r), http.StatusSeeOther)
}

// logout ends the login: same-origin only, like every POST.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.auth.origin.Check(r); err != nil {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	setLogin(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
