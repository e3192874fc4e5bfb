// Package console is extsync's operator console: server-rendered pages
// (html/template, inline SVG, one small embedded script, no inline
// script, nothing fetched from elsewhere) served by the admin server at
// / of EXTSYNC_HTTP_ADDR. It shows every connector's state, the dead
// letters (filtered, paged, replayed or purged after a dry run), the sync
// log of one event or entity, parked conflicts and the stored connector
// definitions.
//
// Access follows the admin API: with EXTSYNC_ADMIN_TOKEN or
// EXTSYNC_VIEWER_TOKEN set, a login form takes a token and keeps a signed
// login in an HttpOnly, SameSite=Strict cookie; the viewer sees
// everything and changes nothing. Without tokens only loopback callers
// are answered. Every POST needs the login's CSRF token and a
// same-origin request (auth.go). Every action goes through the same
// functions the CLI and /api/v1 use and records "console:<role>@<addr>"
// as its actor.
package console
