package geo

import (
	"net/netip"
	"reflect"
	"sync"
	"testing"
)

// The cache answers what the databases do, the second time from memory,
// and counts as they would.
func TestCacheAnswersAsTheDatabases(t *testing.T) {
	d, _, _ := fixture(t)
	ref, _, _ := fixture(t)
	c := NewCache(d, 0)
	for round := range 2 {
		for _, a := range probes {
			addr := netip.MustParseAddr(a)
			g, as := c.Lookup(addr)
			wg, was := ref.Lookup(addr)
			if !reflect.DeepEqual(g, wg) || !reflect.DeepEqual(as, was) {
				t.Errorf("round %d, %s: %s %s, want %s %s", round, a, js(g), js(as), js(wg), js(was))
			}
		}
	}
	st, want := d.Stats(), ref.Stats()
	for i := range want.Files {
		want.Files[i].Path, want.Files[i].LoadedAt = st.Files[i].Path, st.Files[i].LoadedAt
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	// Each public address was asked of the databases once (an
	// IPv4-mapped one is its IPv4 address); private and reserved ones are
	// not remembered.
	var public uint64
	distinct := map[netip.Addr]bool{}
	for _, a := range probes {
		if addr := netip.MustParseAddr(a).Unmap(); global(addr) {
			public++
			distinct[addr] = true
		}
	}
	if cs := c.Stats(); cs.Cached != 2*public-uint64(len(distinct)) || cs.Entries != len(distinct) {
		t.Errorf("cache %+v, want %d cached, %d remembered", cs, 2*public-uint64(len(distinct)), len(distinct))
	}
}

// A reloaded database is asked again: nothing remembered of the old one
// answers.
func TestCacheForgetsOnReload(t *testing.T) {
	d, city, asn := fixture(t)
	c := NewCache(d, 0)
	lookupCity := func() string {
		g, _ := c.Lookup(london)
		return g.CityName
	}
	if got := lookupCity(); got != "London" {
		t.Fatal(got)
	}
	citySpec(2).write(t, city)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := lookupCity(); got != "London v2" {
		t.Errorf("after a reload of the City database: %q", got)
	}
	if got := lookupCity(); got != "London v2" {
		t.Errorf("from memory: %q", got)
	}
	asnSpec(2).write(t, asn)
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, as := c.Lookup(telstra); as == nil || as.Organization.Name != "Telstra v2" {
		t.Errorf("after a reload of the ASN database: %s", js(as))
	}
	if st := c.Stats(); st.Cached != 1 || st.Entries != 1 {
		t.Errorf("%+v: the London answer is of the City database before", st)
	}
}

// The cache holds at most its bound, and still answers past it.
func TestCacheIsBounded(t *testing.T) {
	d, _, _ := fixture(t)
	c := NewCache(d, 64)
	for i := range 4096 {
		addr := netip.AddrFrom4([4]byte{81, 2, byte(i >> 8), byte(i)})
		c.Lookup(addr)
	}
	if st := c.Stats(); st.Entries > st.Limit || st.Limit != 64 || st.Entries < 32 {
		t.Errorf("%+v", st)
	}
	if g, _ := c.Lookup(london); g == nil || g.CityName != "London" {
		t.Errorf("%s", js(g))
	}
	var nilCache *Cache
	if g, as := nilCache.Lookup(london); g != nil || as != nil || NewCache(nil, 0) != nil {
		t.Error("the nil cache answers")
	}
}

// Concurrent lookups through reloads: every answer is one of the
// versions (run with -race).
func TestCacheConcurrentReloads(t *testing.T) {
	d, city, _ := fixture(t)
	c := NewCache(d, 128)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	bad := make(chan string, 1)
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g, _ := c.Lookup(london)
				if g == nil || len(g.CityName) < 6 || g.CityName[:6] != "London" {
					select {
					case bad <- js(g):
					default:
					}
				}
				c.Lookup(netip.AddrFrom4([4]byte{81, 2, 69, byte(i)}))
			}
		})
	}
	for v := 2; v < 20; v++ {
		citySpec(v).write(t, city)
		if err := d.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case b := <-bad:
		t.Error(b)
	default:
	}
	if g, _ := c.Lookup(london); g.CityName != "London v19" {
		t.Errorf("after the last reload: %q", g.CityName)
	}
}

// BenchmarkCacheLookup: an address remembered, the same uncached, and
// many addresses (a cache of 16,384 for 65,536 servers: mostly misses).
func BenchmarkCacheLookup(b *testing.B) {
	d, _, _ := fixture(b)
	c := NewCache(d, 0)
	b.Run("remembered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g, _ := c.Lookup(london); g == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("remembered-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Lookup(london)
			}
		})
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d.Lookup(london)
		}
	})
	b.Run("churn", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c.Lookup(netip.AddrFrom4([4]byte{81, 2, byte(i >> 8), byte(i)}))
		}
	})
}
