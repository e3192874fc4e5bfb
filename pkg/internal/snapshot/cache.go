package snapshot

// stored is what a snapshot subject holds: its message's sequence in
// the snapshot stream (for the conditional publish) and the entity
// version and event stream sequence it was written from.
type stored struct {
	seq      uint64 // in EXTSYNC_SNAPSHOT; 0: nothing stored
	version  string
	eventSeq uint64
}

// cache remembers what the writer last stored per subject, so the usual
// event costs one publish and no read. It is bounded: when full, a tenth
// of it is dropped (Go's map order picks which), and a dropped subject is
// read again on its next event.
type cache struct {
	max int
	m   map[string]stored
}

func newCache(max int) *cache { return &cache{max: max, m: make(map[string]stored)} }

func (c *cache) get(subject string) (stored, bool) {
	s, ok := c.m[subject]
	return s, ok
}

func (c *cache) set(subject string, s stored) {
	if _, ok := c.m[subject]; !ok && len(c.m) >= c.max {
		drop := max(c.max/10, 1)
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[subject] = s
}

func (c *cache) forget(subject string) { delete(c.m, subject) }
