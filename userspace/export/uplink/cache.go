package uplink

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesensor/edgesensor/internal/lru"
	"github.com/edgesensor/edgesensor/userspace/export/cloudapi"
)

// Cache answers hash lookups from the cloud's recent answers, known and
// unknown alike, and asks the cloud (within a timeout) only for the
// rest. It is bounded in entries and in age; the oldest answer goes
// first.
type Cache struct {
	max        int
	ttl, ttlNo time.Duration
	timeout    time.Duration
	now        func() time.Time

	mu sync.Mutex
	m  map[string]*cached
	l  lru.List[cached, *cached]
	// inflight joins concurrent lookups of one hash into one request.
	inflight map[string]*call

	st CacheStats
}

// CacheStats are the cache's figures.
type CacheStats struct {
	Hits, Misses atomic.Uint64
	Errors       atomic.Uint64 // lookups that failed or timed out: the cloud unavailable
	Evicted      atomic.Uint64 // answers dropped for room (not for age)
}

type cached struct {
	links lru.Links[cached]
	sha   string
	r     cloudapi.LookupResult
	until time.Time
}

func (c *cached) Links() *lru.Links[cached] { return &c.links }

type call struct {
	done chan struct{}
	r    cloudapi.LookupResult
	err  error
}

// NewCache keeps at most max answers (0: none), known ones for ttl and
// "unknown" ones for ttlUnknown; each lookup waits at most timeout.
func NewCache(max int, ttl, ttlUnknown, timeout time.Duration) *Cache {
	return &Cache{max: max, ttl: ttl, ttlNo: ttlUnknown, timeout: timeout, now: time.Now,
		m: map[string]*cached{}, inflight: map[string]*call{}}
}

// Stats are the cache's figures.
func (c *Cache) Stats() *CacheStats { return &c.st }

// Len is the number of answers held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Lookup answers for sha from the cache, or asks ask (the uplink client's
// Lookup) within the timeout and remembers the answer. hit says the
// cache answered.
func (c *Cache) Lookup(ctx context.Context, sha string, ask func(context.Context, string) (cloudapi.LookupResult, error)) (r cloudapi.LookupResult, hit bool, err error) {
	c.mu.Lock()
	if e, ok := c.m[sha]; ok {
		if c.now().Before(e.until) {
			c.l.Touch(e)
			r := e.r
			c.mu.Unlock()
			c.st.Hits.Add(1)
			return r, true, nil
		}
		c.drop(e)
	}
	c.st.Misses.Add(1)
	if f, ok := c.inflight[sha]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.r, false, f.err
		case <-ctx.Done():
			return cloudapi.LookupResult{}, false, ctx.Err()
		}
	}
	f := &call{done: make(chan struct{})}
	c.inflight[sha] = f
	c.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	f.r, f.err = ask(actx, sha)
	cancel()
	c.mu.Lock()
	delete(c.inflight, sha)
	if f.err == nil && c.max > 0 {
		ttl := c.ttlNo
		if f.r.Known {
			ttl = c.ttl
		}
		c.put(&cached{sha: sha, r: f.r, until: c.now().Add(ttl)})
	}
	c.mu.Unlock()
	close(f.done)
	if f.err != nil {
		c.st.Errors.Add(1)
	}
	return f.r, false, f.err
}

func (c *Cache) put(e *cached) {
	if old, ok := c.m[e.sha]; ok {
		c.drop(old)
	}
	for len(c.m) >= c.max {
		c.drop(c.l.Oldest())
		c.st.Evicted.Add(1)
	}
	c.m[e.sha] = e
	c.l.Push(e)
}

func (c *Cache) drop(e *cached) {
	delete(c.m, e.sha)
	c.l.Remove(e)
}
