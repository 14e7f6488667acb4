package geo

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
)

// DefaultCacheEntries bounds the addresses a Cache remembers. An answer
// holds a few hundred bytes (a Geo with its names, an AS), so the
// default is a few MiB at most.
const DefaultCacheEntries = 16384

// cacheStripes divide a Cache's entries, each under its own lock, so the
// analysis' shards seldom wait for one another.
const (
	cacheStripeBits = 5
	cacheStripes    = 1 << cacheStripeBits
)

// Cache answers Lookup for the server addresses seen lately without
// asking the databases again: most events go to servers seen before, and
// a remembered answer costs a map read instead of a walk of both trees
// and a decode (a microsecond and three allocations a hit). Public
// addresses are remembered, misses included; private and reserved ones
// are not looked up at all. A reload of either database forgets every
// answer. It is safe for concurrent use; the nil *Cache answers nothing.
//
// The answers are shared between the callers that ask for the same
// address: they must not be changed. The DB's Close does not empty the
// cache: close the DB once nothing asks any more.
type Cache struct {
	db      *DB
	per     int // entries a stripe holds
	stripes [cacheStripes]stripe
	cached  atomic.Uint64
}

type stripe struct {
	mu  sync.Mutex
	gen uint64 // the databases' generation the entries are of
	m   map[netip.Addr]answer
	_   [40]byte // a stripe to a cache line or two: no false sharing
}

type answer struct {
	g  *Geo
	as *AS
}

// NewCache remembers up to entries answers of d (DefaultCacheEntries
// when entries <= 0). It is nil when d is: nothing to ask.
func NewCache(d *DB, entries int) *Cache {
	if d == nil {
		return nil
	}
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	return &Cache{db: d, per: max(1, entries/cacheStripes)}
}

// Lookup is d.Lookup, from memory when addr was asked lately. A remembered
// answer counts in d's Stats as a lookup (and a hit of each database that
// answered), as if the databases had been asked.
func (c *Cache) Lookup(addr netip.Addr) (*Geo, *AS) {
	if c == nil {
		return nil, nil
	}
	d := c.db
	addr = addr.Unmap().WithZone("")
	if !global(addr) {
		return d.Lookup(addr) // counted as skipped; nothing to remember
	}
	s := &c.stripes[stripeOf(addr)]
	gen := d.generation()
	s.mu.Lock()
	if s.gen != gen {
		clear(s.m)
		s.gen = gen
	}
	a, ok := s.m[addr]
	s.mu.Unlock()
	if ok {
		c.cached.Add(1)
		d.lookups.Add(1)
		if a.g != nil {
			d.city.hits.Add(1)
		}
		if a.as != nil {
			d.asn.hits.Add(1)
		}
		if a.g != nil || a.as != nil {
			d.hits.Add(1)
		}
		return a.g, a.as
	}
	a.g, a.as = d.Lookup(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	// An answer of databases a reload replaced meanwhile is not kept: gen
	// was read before the lookup, and the generation moves only once the
	// new database answers.
	if now := d.generation(); now != gen {
		if s.gen != now {
			clear(s.m)
			s.gen = now
		}
		return a.g, a.as
	}
	if s.m == nil {
		s.m = make(map[netip.Addr]answer, c.per)
	}
	if len(s.m) >= c.per {
		for k := range s.m { // map order is as good as random here
			delete(s.m, k)
			break
		}
	}
	s.m[addr] = a
	return a.g, a.as
}

// CacheStats are a Cache's figures.
type CacheStats struct {
	Cached  uint64 // lookups answered from memory (counted in the DB's Stats too)
	Entries int    // addresses remembered now
	Limit   int    // the most it remembers
}

// Stats reads the figures.
func (c *Cache) Stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	st := CacheStats{Cached: c.cached.Load(), Limit: c.per * cacheStripes}
	gen := c.db.generation()
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		if s.gen == gen {
			st.Entries += len(s.m)
		}
		s.mu.Unlock()
	}
	return st
}

// stripeOf spreads addresses over the stripes (Fibonacci hashing of both
// halves).
func stripeOf(a netip.Addr) int {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8]) ^ binary.LittleEndian.Uint64(b[8:])*0x9e3779b97f4a7c15
	return int((h * 0x9e3779b97f4a7c15) >> (64 - cacheStripeBits))
}

// generation moves each time a database is replaced: the sum of the
// files' reloads, counted after each swap. The sources are fixed at
// Open, so it takes no lock.
func (d *DB) generation() uint64 {
	var n uint64
	if d.city != nil {
		n += d.city.reloads.Load()
	}
	if d.asn != nil {
		n += d.asn.reloads.Load()
	}
	return n
}
