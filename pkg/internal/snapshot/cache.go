package snapshot

import "hash/maphash"

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
// written as new on its next event (refused, then read, when it exists).
//
// Subjects are kept as 64-bit hashes, not text: with every event a new
// entity the cache fills, and the subjects' text would be most of its
// memory. Two subjects sharing a hash (about one chance in 10^10 at
// 100,000 subjects) share an entry: a wrong sequence only costs a
// refused publish and a read; a wrong version could leave one entry a
// version behind until its entity's next event.
type cache struct {
	max  int
	seed maphash.Seed
	m    map[uint64]stored
}

func newCache(max int) *cache {
	return &cache{max: max, seed: maphash.MakeSeed(), m: make(map[uint64]stored)}
}

func (c *cache) hash(subject string) uint64 { return maphash.String(c.seed, subject) }

func (c *cache) get(subject string) (stored, bool) {
	s, ok := c.m[c.hash(subject)]
	return s, ok
}

func (c *cache) set(subject string, s stored) {
	h := c.hash(subject)
	if _, ok := c.m[h]; !ok && len(c.m) >= c.max {
		drop := max(c.max/10, 1)
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[h] = s
}

func (c *cache) forget(subject string) { delete(c.m, c.hash(subject)) }
