package bench

import "time"

// Quick is `bench --quick`: a run short enough for CI (seconds, not
// minutes) that still runs what users run: external NATS, versioned
// events, ordering entity, at the concurrency where the pipeline's own
// CPU shows most. QuickMinBridgeRatio is its floor.
var Quick = Options{
	Events: 5_000, Concurrency: []int{64}, Versions: 5, Ordering: "entity",
	NATS: NATSExternal, Rate: 1_000, Duration: time.Second,
}

// QuickDefaults returns o with Quick's values where given says the flag
// of that name was not set, and the floor: QuickMinBridgeRatio unless
// --min-bridge-ratio was given (then minRatio).
func (o Options) QuickDefaults(given func(flag string) bool, minRatio float64) (Options, float64) {
	q := Quick
	if !given("events") {
		o.Events = q.Events
	}
	if !given("concurrency") {
		o.Concurrency = q.Concurrency
	}
	if !given("nats") {
		o.NATS = q.NATS
	}
	if !given("versions") {
		o.Versions = q.Versions
	}
	if !given("duration") {
		o.Duration = q.Duration
	}
	if !given("min-bridge-ratio") {
		minRatio = QuickMinBridgeRatio
	}
	return o, minRatio
}

// QuickMinBridgeRatio is --quick's default --min-bridge-ratio. With
// ordering entity and versioned events the pipeline drains at about a
// third of the bare bridge on a shared 2-core machine (each event writes
// its entity's claim and release to KV extsync_state); 0.2 leaves room
// for that machine's noise and still catches a collapse.
const QuickMinBridgeRatio = 0.2
