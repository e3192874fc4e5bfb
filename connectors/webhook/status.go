package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hms/extsync/connectors"
)

// The HTTP outcome table is the http kind's (connectors/httpapi/status.go),
// repeated here because that one is unexported; the two must stay equal
// until the table moves to a package both can import.

// statusClass holds the statuses that differ from their range (classOf).
var statusClass = map[int]connectors.Class{
	http.StatusRequestTimeout:     connectors.Transient, // 408
	http.StatusTooEarly:           connectors.Transient, // 425
	http.StatusTooManyRequests:    connectors.Transient, // 429
	http.StatusConflict:           connectors.Conflict,  // 409
	http.StatusPreconditionFailed: connectors.Conflict,  // 412
}

// classOf returns 0 for success, else the failure class of status.
func classOf(status int) connectors.Class {
	if c, ok := statusClass[status]; ok {
		return c
	}
	switch {
	case status >= 200 && status < 300:
		return 0
	case status >= 500:
		return connectors.Transient
	}
	return connectors.Permanent // other 4xx, and 1xx/3xx (redirects are not followed)
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
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
