package connectors

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpStatusClass holds the statuses whose class differs from their range.
var httpStatusClass = map[int]Class{
	http.StatusRequestTimeout:     Transient, // 408
	http.StatusTooEarly:           Transient, // 425
	http.StatusTooManyRequests:    Transient, // 429
	http.StatusConflict:           Conflict,  // 409
	http.StatusPreconditionFailed: Conflict,  // 412
}

// HTTPClass is the outcome table every HTTP-based kind shares: 0 for 2xx,
// transient for 408, 425, 429 and 5xx, conflict for 409 and 412, and
// permanent for the rest (other 4xx, and 1xx/3xx: redirects are not
// followed).
func HTTPClass(status int) Class {
	if c, ok := httpStatusClass[status]; ok {
		return c
	}
	switch {
	case status >= 200 && status < 300:
		return 0
	case status >= 500:
		return Transient
	}
	return Permanent
}

// RetryAfter reads a Retry-After header as seconds or an HTTP date
// relative to now; 0 when absent or in the past.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// SafeURL renders u without query or user info, where API keys tend to
// live, for error messages.
func SafeURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// HTTPCause unwraps *url.Error, whose message repeats the full URL, and
// says "timed out" for timeouts.
func HTTPCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}
