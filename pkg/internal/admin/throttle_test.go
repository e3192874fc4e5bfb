package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func from(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = addr
	return r
}

func TestLoginThrottleLetsAClientTryAgainOnceItsWaitIsOver(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	th := NewThrottle(func() time.Time { return now })
	r := from("192.0.2.7:5000")
	for range failedBurst {
		require.Zero(t, th.Wait(r))
		th.Failed(r)
	}
	wait := th.Wait(r)
	require.Equal(t, failedInterval, wait)
	require.Equal(t, 12, RetryAfter(wait))
	require.Zero(t, th.Wait(from("192.0.2.8:5000")), "another address")

	now = now.Add(wait)
	require.Zero(t, th.Wait(r), "the wait is over")
	th.Failed(r)
	require.Equal(t, failedInterval, th.Wait(r), "one more guess, then a wait again")
}

func TestLoginThrottleCountsAnIPv6ClientByItsNetwork(t *testing.T) {
	now := time.Now()
	th := NewThrottle(func() time.Time { return now })
	for i := range failedBurst {
		th.Failed(from(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)))
	}
	require.NotZero(t, th.Wait(from("[2001:db8:1:2:ffff::1]:443")), "the same /64")
	require.Zero(t, th.Wait(from("[2001:db8:1:3::1]:443")))
}

func TestLoginThrottleForgetsRecoveredClientsWhenFull(t *testing.T) {
	now := time.Now()
	th := NewThrottle(func() time.Time { return now })
	for i := range maxClients {
		th.Failed(from(fmt.Sprintf("10.%d.%d.1:1", i/256, i%256)))
	}
	require.Len(t, th.clients, maxClients)
	now = now.Add(failedBurst * failedInterval)
	held := from("192.0.2.1:1")
	for range failedBurst + 1 {
		th.Failed(held)
	}
	require.Len(t, th.clients, 1, "the recovered ones are forgotten")
	require.NotZero(t, th.Wait(held))
}
