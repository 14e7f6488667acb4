package geo

import (
	"net/netip"
	"testing"
)

// BenchmarkLookup: a hit of both databases (every City field), a miss of
// both (the trees walked, nothing decoded), and a private address (not
// looked up).
func BenchmarkLookup(b *testing.B) {
	d, _, _ := fixture(b)
	for _, bc := range []struct {
		name, addr string
		hit        bool
	}{
		{"hit", "81.2.69.142", true},
		{"hit-ipv6", "2001:480::1", true},
		{"miss", "8.8.8.8", false},
		{"miss-ipv6", "2001:4860:4860::8888", false},
		{"private", "10.1.2.3", false},
	} {
		addr := netip.MustParseAddr(bc.addr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g, as := d.Lookup(addr)
				if (g != nil && as != nil) != bc.hit {
					b.Fatal(bc.addr)
				}
			}
		})
	}
	b.Run("hit-parallel", func(b *testing.B) {
		b.ReportAllocs()
		addr := netip.MustParseAddr("81.2.69.142")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if g, _ := d.Lookup(addr); g == nil {
					b.Fatal("miss")
				}
			}
		})
	})
}
