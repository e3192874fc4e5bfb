package throttle

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var params = Params{Max: 100, Min: 2, Increase: 10, Decrease: 0.5, Cooldown: time.Second}

func TestRateRecoversLinearlyFromTheLastDecrease(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	require.Equal(t, 100.0, params.Rate(State{}, t0), "never slowed: the maximum")
	s, changed := params.slowed(State{}, t0, 0)
	require.True(t, changed)
	require.Equal(t, 50.0, params.Rate(s, t0))
	require.Equal(t, 70.0, params.Rate(s, t0.Add(2*time.Second)))
	require.Equal(t, 100.0, params.Rate(s, t0.Add(time.Minute)), "capped at the maximum")
}

func TestABurstOfRefusalsWithinTheCooldownHalvesOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s, _ := params.slowed(State{}, t0, 0)
	for i := range 16 { // every request in flight answered 429
		var changed bool
		s, changed = params.slowed(s, t0.Add(time.Duration(i)*time.Millisecond), 0)
		require.False(t, changed)
	}
	require.Equal(t, 50.0, params.Rate(s, t0))
	s, _ = params.slowed(s, t0.Add(time.Second), 0)
	require.Equal(t, 30.0, params.Rate(s, t0.Add(time.Second)), "(50+10)/2 after the cooldown")
}

func TestRateNeverFallsBelowTheMinimum(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	p := params
	p.Increase = 1 // recovering slower than it is refused: it would sink to 1/s
	s := State{}
	for i := range 20 {
		s, _ = p.slowed(s, t0.Add(time.Duration(i)*time.Second), 0)
	}
	require.Equal(t, 2.0, p.Rate(s, s.At))
}

func TestRetryAfterExtendsThePauseButNeverShortensIt(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s, _ := params.slowed(State{}, t0, 5*time.Second)
	require.Equal(t, t0.Add(5*time.Second), s.PauseUntil)
	s, changed := params.slowed(s, t0.Add(10*time.Millisecond), time.Second)
	require.False(t, changed, "a shorter Retry-After within the cooldown changes nothing")
	require.Equal(t, t0.Add(5*time.Second), s.PauseUntil)
	s, changed = params.slowed(s, t0.Add(20*time.Millisecond), 8*time.Second)
	require.True(t, changed)
	require.Equal(t, t0.Add(8020*time.Millisecond), s.PauseUntil)
}

func TestReplicasCountOnlyRecentHeartbeats(t *testing.T) {
	now := time.Now()
	s := &Shared{self: "a", seen: map[string]time.Time{
		"a": now.Add(-time.Hour), // this replica always counts
		"b": now.Add(-time.Second),
		"c": now.Add(-memberTTL - time.Second), // killed: stopped beating
	}}
	require.Equal(t, 2, s.replicas(now))
}
