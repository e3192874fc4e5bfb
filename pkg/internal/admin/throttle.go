package admin

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed token checks allowed per client, in the console's login and the
// API together: a burst, then one per interval. A person mistyping a
// token is never held up; a script guessing tokens gets five guesses a
// minute.
const (
	failedBurst    = 5
	failedInterval = 12 * time.Second
	// maxClients bounds the memory the throttle keeps.
	maxClients = 4096
)

// Throttle limits failed token checks per client address. The address is
// the connection's: X-Forwarded-For is not trusted, as anyone can set it,
// so behind a reverse proxy every client shares the proxy's budget.
type Throttle struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
	now     func() time.Time
}

// NewThrottle is an empty throttle reading the time from now.
func NewThrottle(now func() time.Time) *Throttle {
	return &Throttle{clients: map[string]*rate.Limiter{}, now: now}
}

// Wait is how long r's client must wait before its next token is
// looked at; 0 when it may try now.
func (t *Throttle) Wait(r *http.Request) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.clients[client(r)]
	if !ok {
		return 0
	}
	missing := 1 - l.TokensAt(t.now())
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing * float64(failedInterval))
}

// Failed counts a wrong token from r's client.
func (t *Throttle) Failed(r *http.Request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	key := client(r)
	l, ok := t.clients[key]
	if !ok {
		t.forgetRecovered(now)
		l = rate.NewLimiter(rate.Every(failedInterval), failedBurst)
		t.clients[key] = l
	}
	l.AllowN(now, 1)
}

// forgetRecovered drops, when the map is full, the clients whose budget
// is whole again; if none has, all of them: a guesser with that many
// addresses is not slowed by a per-address limit anyway.
func (t *Throttle) forgetRecovered(now time.Time) {
	if len(t.clients) < maxClients {
		return
	}
	for k, l := range t.clients {
		if l.TokensAt(now) >= failedBurst {
			delete(t.clients, k)
		}
	}
	if len(t.clients) >= maxClients {
		clear(t.clients)
	}
}

// client is the caller's address; an IPv6 one by its /64, which one
// host commonly holds whole.
func client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String()
	}
	return ip.String()
}

// RetryAfter is d as a Retry-After value: whole seconds, at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
