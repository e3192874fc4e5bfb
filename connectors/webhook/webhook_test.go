package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/auth"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// newSecret returns a fresh whsec_ secret with a 32-byte key.
func newSecret(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

func build(cfg Config) (connectors.Connector, error) {
	return Factory{}.New(connectors.Spec{
		Name:        "c",
		Concurrency: 4,
		Decode: func(v any) error {
			*v.(*Config) = cfg
			return nil
		},
	})
}

// newConnector builds a connector from a Config literal standing in for
// the decoded `webhook:` block; now, if set, replaces its clock.
func newConnector(t *testing.T, cfg Config, now func() time.Time) *Connector {
	t.Helper()
	c, err := build(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	conn := c.(*Connector)
	if now != nil {
		conn.now = now
	}
	return conn
}

func delivery() *connectors.Delivery {
	return &connectors.Delivery{
		Event: &event.Event{
			ID: "evt-1", Type: "hms.workflow.updated", Source: "hms/policy", Subject: "hms.workflow.updated",
			Stream: "HMS_EVENTS", Seq: 7, Key: "wf-1", Version: "3",
			Time: time.Date(2025, 3, 1, 12, 0, 0, 123000000, time.UTC),
			Data: map[string]any{"id": "wf-1", "name": "Attorney Rotation"},
		},
		Body:    map[string]any{"case_reference": "wf-1", "courtroom": "4B", "note": "<a & b>"},
		Attempt: 1,
	}
}

// seen is one request as a receiver got it, with what the reference
// library said of its signature.
type seen struct {
	Header http.Header
	Body   []byte
	Verify error
}

// receiver is a webhook endpoint that verifies every request with the
// Standard Webhooks reference library, knowing only its own secret: 204
// when the signature holds, 401 otherwise (as receivers are told to do).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verr := wh.Verify(body, r.Header)
		rc.mu.Lock()
		rc.requests = append(rc.requests, seen{r.Header.Clone(), body, verr})
		rc.mu.Unlock()
		if verr != nil {
			http.Error(w, "signature refused", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []seen {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seen(nil), rc.requests...)
}

func (rc *receiver) only(t *testing.T) seen {
	t.Helper()
	all := rc.all()
	require.Len(t, all, 1)
	return all[0]
}

// sink answers every request with a fixed response and records it.
type sink struct {
	*httptest.Server
	mu       sync.Mutex
	requests []seen
}

func newSink(t *testing.T, status int, header http.Header, body string) *sink {
	t.Helper()
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, seen{Header: r.Header.Clone(), Body: b})
		s.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) all() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.requests...)
}

func (s *sink) count() int { return len(s.all()) }

func TestReferenceLibraryAcceptsOurSignature(t *testing.T) {
	secret := newSecret(t)
	rc := newReceiver(t, secret)
	sent := time.Now().Add(-30 * time.Second).Truncate(time.Second)
	c := newConnector(t, Config{URL: rc.URL + "/hooks/court", Secret: secret}, func() time.Time { return sent })

	d := delivery()
	require.NoError(t, c.Deliver(connectortest.Traced(traceparent), d))
	r := rc.only(t)
	require.NoError(t, r.Verify)

	require.Equal(t, "evt-1", r.Header.Get("webhook-id"))
	require.Equal(t, strconv.FormatInt(sent.Unix(), 10), r.Header.Get("webhook-timestamp"))
	sigs := strings.Fields(r.Header.Get("webhook-signature"))
	require.Len(t, sigs, 1)
	require.True(t, strings.HasPrefix(sigs[0], "v1,"), sigs[0])
	require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, traceparent, r.Header.Get("Traceparent"))
	require.Equal(t, "extsync", r.Header.Get("User-Agent"))

	// The mapped body is sent as is.
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	require.Equal(t, d.Body, body)
}

// The reference library refuses what a man in the middle changed.
func TestReferenceLibraryRefusesTampering(t *testing.T) {
	secret := newSecret(t)
	s := newSink(t, http.StatusNoContent, nil, "")
	c := newConnector(t, Config{URL: s.URL, Secret: secret}, nil)
	require.NoError(t, c.Deliver(context.Background(), delivery()))
	require.Len(t, s.all(), 1)
	got := s.all()[0]

	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	require.NoError(t, wh.Verify(got.Body, got.Header), "the untouched request verifies")

	tampered := []byte(strings.Replace(string(got.Body), `"4B"`, `"4C"`, 1))
	require.NotEqual(t, got.Body, tampered)
	require.ErrorIs(t, wh.Verify(tampered, got.Header), standardwebhooks.ErrNoMatchingSignature)

	otherID := got.Header.Clone()
	otherID.Set("webhook-id", "evt-2")
	require.ErrorIs(t, wh.Verify(got.Body, otherID), standardwebhooks.ErrNoMatchingSignature)

	ts, err := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	otherTS := got.Header.Clone()
	otherTS.Set("webhook-timestamp", strconv.FormatInt(ts+1, 10))
	require.ErrorIs(t, wh.Verify(got.Body, otherTS), standardwebhooks.ErrNoMatchingSignature)

	other, err := standardwebhooks.NewWebhook(newSecret(t))
	require.NoError(t, err)
	require.ErrorIs(t, other.Verify(got.Body, got.Header), standardwebhooks.ErrNoMatchingSignature, "a receiver with another secret")
}

// Receivers refuse a timestamp more than 5 minutes from their clock, so a
// captured request cannot be replayed later.
func TestReferenceLibraryRefusesStaleTimestamps(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration
		want   error // nil: accepted
	}{
		{"now", 0, nil},
		{"4 minutes old", -4 * time.Minute, nil},
		{"10 minutes old", -10 * time.Minute, standardwebhooks.ErrMessageTooOld},
		{"a day old", -24 * time.Hour, standardwebhooks.ErrMessageTooOld},
		{"10 minutes ahead", 10 * time.Minute, standardwebhooks.ErrMessageTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := newSecret(t)
			rc := newReceiver(t, secret)
			at := time.Now().Add(tt.offset)
			c := newConnector(t, Config{URL: rc.URL, Secret: secret}, func() time.Time { return at })
			err := c.Deliver(context.Background(), delivery())
			r := rc.only(t)
			require.Equal(t, strconv.FormatInt(at.Unix(), 10), r.Header.Get("webhook-timestamp"))
			if tt.want == nil {
				require.NoError(t, r.Verify)
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, r.Verify, tt.want)
			require.ErrorIs(t, err, connectors.ErrPermanent, "a 401 from the receiver")
			require.NotContains(t, err.Error(), secret)
		})
	}
}

// During a rotation every request carries one signature per secret, so a
// receiver still on the old secret and one already on the new both verify.
func TestRotationBothSecretsVerify(t *testing.T) {
	old, next := newSecret(t), newSecret(t)
	oldOnly, newOnly, neither := newReceiver(t, old), newReceiver(t, next), newReceiver(t, newSecret(t))
	for _, rc := range []*receiver{oldOnly, newOnly} {
		c := newConnector(t, Config{URL: rc.URL, Secrets: []string{old, next}}, nil)
		require.NoError(t, c.Deliver(context.Background(), delivery()))
		r := rc.only(t)
		require.NoError(t, r.Verify)
		sigs := strings.Fields(r.Header.Get("webhook-signature"))
		require.Len(t, sigs, 2)
		for _, sig := range sigs {
			require.True(t, strings.HasPrefix(sig, "v1,"), sig)
		}
		require.NotEqual(t, sigs[0], sigs[1])
	}

	c := newConnector(t, Config{URL: neither.URL, Secrets: []string{old, next}}, nil)
	err := c.Deliver(context.Background(), delivery())
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorIs(t, neither.only(t).Verify, standardwebhooks.ErrNoMatchingSignature)
}

func TestSecretAndSecretsCombineWithoutRepeats(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	rc := newReceiver(t, b)
	// secret: $NEW with secrets: [$OLD, $NEW] signs twice, not three times.
	c := newConnector(t, Config{URL: rc.URL, Secret: b, Secrets: []string{a, b}}, nil)
	require.NoError(t, c.Deliver(context.Background(), delivery()))
	r := rc.only(t)
	require.NoError(t, r.Verify)
	require.Len(t, strings.Fields(r.Header.Get("webhook-signature")), 2)
}

// webhook-id is the event id on every attempt, so receivers can drop
// repeats; the timestamp and signature are fresh each time.
func TestWebhookIDIsStableAcrossAttempts(t *testing.T) {
	secret := newSecret(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	var calls atomic.Int32
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Header.Clone(), body, wh.Verify(body, r.Header)})
		mu.Unlock()
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "30")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	clock := time.Now()
	c := newConnector(t, Config{URL: srv.URL, Secret: secret}, func() time.Time { return clock })
	d := delivery()
	err = c.Deliver(context.Background(), d)
	require.ErrorIs(t, err, connectors.ErrTransient)
	var de *connectors.DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, 30*time.Second, de.RetryAfter)

	clock = clock.Add(30 * time.Second)
	d.Attempt = 2
	require.NoError(t, c.Deliver(context.Background(), d))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	for _, r := range got {
		require.NoError(t, r.Verify)
		require.Equal(t, "evt-1", r.Header.Get("webhook-id"))
		require.Equal(t, "evt-1", r.Header.Get("Idempotency-Key"))
	}
	require.Equal(t, got[0].Body, got[1].Body)
	require.NotEqual(t, got[0].Header.Get("webhook-timestamp"), got[1].Header.Get("webhook-timestamp"))
	require.NotEqual(t, got[0].Header.Get("webhook-signature"), got[1].Header.Get("webhook-signature"))
}

func TestCloudEventBody(t *testing.T) {
	tests := []struct {
		name       string
		event      func(*event.Event)
		wantSource string
		wantType   string
		wantTime   string
		wantSubj   string
		wantVer    string
	}{
		{
			name: "from a CloudEvent", event: func(*event.Event) {},
			wantSource: "hms/policy", wantType: "hms.workflow.updated", wantTime: "2025-03-01T12:00:00.123Z",
			wantSubj: "wf-1", wantVer: "3",
		},
		{
			name: "from plain JSON",
			event: func(e *event.Event) {
				e.Source, e.Version = "", ""
				e.Time = time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
			},
			wantSource: "hms/workflow", wantType: "hms.workflow.updated", wantTime: "2025-03-01T12:00:00Z", wantSubj: "wf-1",
		},
		{
			name:       "no key, no time",
			event:      func(e *event.Event) { e.Key, e.Time = "", time.Time{} },
			wantSource: "hms/policy", wantType: "hms.workflow.updated", wantVer: "3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := newSecret(t)
			rc := newReceiver(t, secret)
			c := newConnector(t, Config{URL: rc.URL, Secret: secret, Body: BodyCloudEvent}, nil)
			d := delivery()
			tt.event(d.Event)
			require.NoError(t, c.Deliver(context.Background(), d))
			r := rc.only(t)
			require.NoError(t, r.Verify, "the signature covers the CloudEvent as sent")
			require.Equal(t, "application/cloudevents+json", r.Header.Get("Content-Type"))
			require.Equal(t, "evt-1", r.Header.Get("webhook-id"))

			var ce map[string]any
			require.NoError(t, json.Unmarshal(r.Body, &ce))
			want := map[string]any{
				"specversion":     "1.0",
				"id":              "evt-1",
				"source":          tt.wantSource,
				"type":            tt.wantType,
				"datacontenttype": "application/json",
				"data":            d.Body,
			}
			if tt.wantSubj != "" {
				want["subject"] = tt.wantSubj
			}
			if tt.wantTime != "" {
				want["time"] = tt.wantTime
			}
			if tt.wantVer != "" {
				want["entityversion"] = tt.wantVer
			}
			require.Equal(t, want, ce)
		})
	}
}

func TestSourceOf(t *testing.T) {
	for subject, want := range map[string]string{
		"hms.workflow.updated": "hms/workflow",
		"hms.data":             "hms/data",
		"single":               "single",
		"":                     "extsync",
	} {
		require.Equal(t, want, sourceOf(&event.Event{Subject: subject}), subject)
	}
	require.Equal(t, "urn:x", sourceOf(&event.Event{Source: "urn:x", Subject: "hms.a.b"}))
}

func TestHeaders(t *testing.T) {
	secret := newSecret(t)
	rc := newReceiver(t, secret)
	c := newConnector(t, Config{
		URL: rc.URL, Secret: secret,
		Headers: map[string]string{"X-Tenant": "hms", "x-lower": "v"},
		Auth:    &auth.Config{Bearer: "tok-123"},
	}, nil)
	require.NoError(t, c.Deliver(context.Background(), delivery()))
	r := rc.only(t)
	require.NoError(t, r.Verify)
	require.Equal(t, "hms", r.Header.Get("X-Tenant"))
	require.Equal(t, "v", r.Header.Get("X-Lower"))
	require.Equal(t, "Bearer tok-123", r.Header.Get("Authorization"))
	require.Equal(t, []string{"evt-1"}, r.Header.Values("webhook-id"))
	require.Equal(t, []string{"evt-1"}, r.Header.Values("Idempotency-Key"))
	require.Equal(t, []string{"application/json"}, r.Header.Values("Content-Type"))
}

// secretURL has a key in its query that must never reach an error.
const secretURL = "/hooks?api_key=SECRET"

func TestStatusTable(t *testing.T) {
	tests := []struct {
		status     int
		header     http.Header
		body       string
		class      connectors.Class // 0: success
		retryAfter time.Duration
	}{
		{status: 200},
		{status: 202},
		{status: 204},
		{status: 408, class: connectors.Transient},
		{status: 425, class: connectors.Transient},
		{status: 429, header: http.Header{"Retry-After": {"2"}}, class: connectors.Transient, retryAfter: 2 * time.Second},
		{status: 500, body: "database down", class: connectors.Transient},
		{status: 502, class: connectors.Transient},
		{status: 503, header: http.Header{"Retry-After": {" 120 "}}, class: connectors.Transient, retryAfter: 2 * time.Minute},
		{status: 503, header: http.Header{"Retry-After": {"soon"}}, class: connectors.Transient},
		{status: 409, body: `{"error":"overlapping assignment"}`, class: connectors.Conflict},
		{status: 412, class: connectors.Conflict},
		{status: 400, body: "bad payload", class: connectors.Permanent},
		{status: 401, body: "signature refused", class: connectors.Permanent},
		{status: 404, class: connectors.Permanent},
		{status: 410, class: connectors.Permanent},
		{status: 422, class: connectors.Permanent},
	}
	sentinel := map[connectors.Class]error{
		connectors.Transient: connectors.ErrTransient,
		connectors.Conflict:  connectors.ErrConflict,
		connectors.Permanent: connectors.ErrPermanent,
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+tt.header.Get("Retry-After"), func(t *testing.T) {
			secret := newSecret(t)
			s := newSink(t, tt.status, tt.header, tt.body)
			c := newConnector(t, Config{URL: s.URL + secretURL, Secret: secret}, nil)
			err := c.Deliver(context.Background(), delivery())
			require.Equal(t, 1, s.count())
			if tt.class == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, sentinel[tt.class])
			for cl, other := range sentinel {
				if cl != tt.class {
					require.NotErrorIs(t, err, other)
				}
			}
			var de *connectors.DeliveryError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tt.status, de.Status)
			require.Equal(t, tt.retryAfter, de.RetryAfter)
			require.Contains(t, err.Error(), "POST "+s.URL+"/hooks")
			require.Contains(t, err.Error(), strconv.Itoa(tt.status))
			if tt.body != "" {
				require.Contains(t, err.Error(), tt.body)
			}
			requireNoSecret(t, err, secret)
		})
	}
}

func TestRetryAfterHTTPDateUsesTheClock(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := now.Add(90 * time.Second).Format(http.TimeFormat)
	s := newSink(t, http.StatusTooManyRequests, http.Header{"Retry-After": {at}}, "")
	c := newConnector(t, Config{URL: s.URL, Secret: newSecret(t)}, func() time.Time { return now })
	err := c.Deliver(context.Background(), delivery())
	var de *connectors.DeliveryError
	require.ErrorAs(t, err, &de)
	require.Equal(t, connectors.Transient, de.Class)
	require.Equal(t, 90*time.Second, de.RetryAfter)

	past := http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}
	require.Zero(t, connectors.RetryAfter(past, now))
}

// A redirect is reported, not followed: following a 302 would turn the
// POST into a GET whose 200 counts as delivered, and a 307 would re-send
// the signed request to wherever Location points.
func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			target := newSink(t, http.StatusOK, nil, "")
			origin := newSink(t, status, http.Header{"Location": {target.URL + "/elsewhere"}}, "")
			c := newConnector(t, Config{URL: origin.URL, Secret: newSecret(t)}, nil)
			err := c.Deliver(context.Background(), delivery())
			require.ErrorIs(t, err, connectors.ErrPermanent)
			require.Contains(t, err.Error(), "redirects are not followed")
			require.Equal(t, 1, origin.count())
			require.Zero(t, target.count(), "the redirect was followed")
		})
	}
}

func TestBadEventIDSendsNothing(t *testing.T) {
	for name, id := range map[string]string{"empty": "", "newline": "evt\r\nX-Injected: 1"} {
		t.Run(name, func(t *testing.T) {
			s := newSink(t, http.StatusOK, nil, "")
			c := newConnector(t, Config{URL: s.URL, Secret: newSecret(t)}, nil)
			d := delivery()
			d.Event.ID = id
			err := c.Deliver(context.Background(), d)
			require.ErrorIs(t, err, connectors.ErrPermanent)
			require.Zero(t, s.count())
		})
	}
}

func TestUnencodableBodyIsPermanent(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{URL: s.URL, Secret: newSecret(t)}, nil)
	d := delivery()
	d.Body["bad"] = make(chan int)
	err := c.Deliver(context.Background(), d)
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.Zero(t, s.count())
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	secret := newSecret(t)
	c := newConnector(t, Config{URL: url + secretURL, Secret: secret, Auth: &auth.Config{Bearer: "SECRET-TOKEN"}}, nil)
	err := c.Deliver(context.Background(), delivery())
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "POST "+url+"/hooks")
	requireNoSecret(t, err, secret)
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	secret := newSecret(t)
	c := newConnector(t, Config{URL: srv.URL + secretURL, Secret: secret, Timeout: config.Duration(100 * time.Millisecond)}, nil)
	require.Equal(t, 100*time.Millisecond, c.Timeout())
	err := c.Deliver(context.Background(), delivery())
	require.EqualValues(t, 1, arrived.Load())
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.True(t, connectors.IsNetwork(err), "not a network error: %v", err)
	require.Contains(t, err.Error(), "timed out")
	requireNoSecret(t, err, secret)
}

func TestContextCancelled(t *testing.T) {
	s := newSink(t, http.StatusOK, nil, "")
	c := newConnector(t, Config{URL: s.URL, Secret: newSecret(t)}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Deliver(ctx, delivery())
	require.ErrorIs(t, err, connectors.ErrTransient)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewDefaults(t *testing.T) {
	c := newConnector(t, Config{URL: "https://hooks.example/court", Secret: newSecret(t)}, nil)
	require.Equal(t, 10*time.Second, c.Timeout())
	require.False(t, c.cloudEvent)
	require.Equal(t, "application/json", c.contentType)
	require.NoError(t, c.Close())
}

func TestNewPropagatesDecodeErrors(t *testing.T) {
	want := errors.New("c.yaml:7:7: connectors[0].webhook.bogus: unknown field")
	_, err := Factory{}.New(connectors.Spec{Name: "c", Decode: func(any) error { return want }})
	require.ErrorIs(t, err, want)
	require.Equal(t, Kind, Factory{}.Kind())
}

func TestNewValidatesConfig(t *testing.T) {
	const ok = "https://hooks.example/court"
	good := newSecret(t)
	short := secretPrefix + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	tests := []struct {
		name   string
		cfg    Config
		want   string
		hidden string // must not appear in the message
	}{
		{"missing url", Config{Secret: good}, "webhook.url is required", good},
		{"relative url", Config{URL: "/hooks", Secret: good}, "absolute http:// or https:// URL", good},
		{"other scheme", Config{URL: "ftp://hooks.example/", Secret: good}, "absolute http:// or https:// URL", good},
		{"bad body", Config{URL: ok, Secret: good, Body: "xml"}, `webhook.body "xml": want mapped or cloudevent`, good},
		{"no secret", Config{URL: ok}, "webhook: a signing secret is required", ""},
		{"empty secrets list", Config{URL: ok, Secrets: []string{}}, "a signing secret is required", ""},
		{"no prefix", Config{URL: ok, Secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}, "webhook.secret: must start with whsec_", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
		{"not base64", Config{URL: ok, Secret: "whsec_n0t*base64!!"}, "webhook.secret: is not whsec_ followed by standard base64", "n0t*base64"},
		{"too short", Config{URL: ok, Secret: short}, "webhook.secret: is too short", short},
		{"empty entry", Config{URL: ok, Secrets: []string{good, ""}}, "webhook.secrets[1]: is empty", good},
		{"second entry bad", Config{URL: ok, Secrets: []string{good, "whsec_%%%SECRET%%%"}}, "webhook.secrets[1]: is not whsec_ followed by standard base64", "SECRET"},
		{"first entry bad", Config{URL: ok, Secret: good, Secrets: []string{"SECRET"}}, "webhook.secrets[0]: must start with whsec_", "SECRET"},
		{"bad header name", Config{URL: ok, Secret: good, Headers: map[string]string{"X Tenant": "SECRET"}}, `"X Tenant" is not a valid header name`, "SECRET"},
		{"reserved header", Config{URL: ok, Secret: good, Headers: map[string]string{"webhook-signature": "SECRET"}}, "Webhook-Signature is set by the connector", "SECRET"},
		{"idempotency header", Config{URL: ok, Secret: good, Headers: map[string]string{"Idempotency-Key": "x"}}, "Idempotency-Key is set by the connector", good},
		{"two auth kinds", Config{URL: ok, Secret: good, Auth: &auth.Config{Bearer: "SECRET", Basic: &auth.BasicAuth{User: "u"}}}, "webhook.auth: set only one of", "SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := build(tt.cfg)
			require.Nil(t, c)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
			if tt.hidden != "" {
				require.NotContains(t, err.Error(), tt.hidden)
			}
		})
	}
}

// requireNoSecret fails if err mentions the secret, its key or the query
// key of secretURL.
func requireNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	msg := err.Error()
	require.NotContains(t, msg, secret)
	require.NotContains(t, msg, strings.TrimPrefix(secret, secretPrefix))
	require.NotContains(t, msg, "SECRET")
}
