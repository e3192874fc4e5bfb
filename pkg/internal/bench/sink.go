package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sink is the in-process external system: a keep-alive HTTP server that
// answers 200 to PUT /events/{id}, counts distinct events of the phase it
// expects and, for the latency phase, records receive time - publish time.
type sink struct {
	srv *http.Server
	url string
	// tally is what the current phase has seen.
	tally *tally
	// order, when set, checks the throughput phase's versions.
	order *orderCheck
	mu    sync.Mutex
	bufs  sync.Pool
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + ln.Addr().String()}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// checkOrder checks the order of the versions received from now on
// (nil: no more).
func (s *sink) checkOrder(o *orderCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = o
}

// expect starts counting a phase's events afresh.
func (s *sink) expect(t *tally) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tally = t
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	if err != nil {
		s.bufs.Put(buf)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	sent, hasSent := sentAt(buf.Bytes())
	s.bufs.Put(buf)
	s.mu.Lock()
	t, order := s.tally, s.order
	s.mu.Unlock()
	if order != nil {
		if phase, n, ok := parseID(id); ok && phase == phaseThroughput {
			order.see(n)
		}
	}
	if t != nil {
		if phase, n, ok := parseID(id); ok {
			var lat time.Duration
			if hasSent {
				lat = now.Sub(time.Unix(0, sent))
			}
			t.see(phase, n, now, lat)
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (s *sink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.srv.Close()
	}
}

// tally counts the distinct events of one phase (0..want-1) and, when
// asked to, their latencies. It is shared by the sink and the sync-log
// observer, which each have their own.
type tally struct {
	phase     byte
	want      int
	latencies bool

	mu       sync.Mutex
	seen     []uint64 // bitmap over n
	distinct int
	last     time.Time // when the last new event was seen
	lat      []time.Duration
	done     chan struct{}
}

func newTally(phase byte, want int, latencies bool) *tally {
	t := &tally{phase: phase, want: want, latencies: latencies,
		seen: make([]uint64, (want+63)/64), done: make(chan struct{})}
	if latencies {
		t.lat = make([]time.Duration, 0, want)
	}
	if want == 0 {
		close(t.done)
	}
	return t
}

// see notes event n of phase, seen at now, lat after it was published.
// Repeats (redeliveries) count once.
func (t *tally) see(phase byte, n int, now time.Time, lat time.Duration) {
	if phase != t.phase || n >= t.want {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	word, bit := n/64, uint64(1)<<(n%64)
	if t.seen[word]&bit != 0 {
		return
	}
	t.seen[word] |= bit
	t.distinct++
	t.last = now
	if t.latencies {
		t.lat = append(t.lat, lat)
	}
	if t.distinct == t.want {
		close(t.done)
	}
}

// progress returns how many distinct events were seen, and when the last
// new one was.
func (t *tally) progress() (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.distinct, t.last
}

func (t *tally) latencySamples() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Duration(nil), t.lat...)
}

// discard drains and closes a response body so its connection is reused.
func discard(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	_ = r.Close()
}
