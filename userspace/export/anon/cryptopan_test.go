package anon

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// refKey is the key of the sample in the original Crypto-PAn distribution.
var refKey = []byte{
	21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
	216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
}

// seqKey is bytes 0..31, the key used by pycryptopan/yacryptopan's examples.
func seqKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// refV4 are sample_trace_raw.dat -> sample_trace_sanitized.dat pairs of the
// original Crypto-PAn distribution (as carried in the test suites of
// Yawning/cryptopan, node-cryptopan and yacryptopan).
var refV4 = [][2]string{
	{"128.11.68.132", "135.242.180.132"},
	{"129.118.74.4", "134.136.186.123"},
	{"130.132.252.244", "133.68.164.234"},
	{"141.223.7.43", "141.167.8.160"},
	{"141.233.145.108", "141.129.237.235"},
	{"152.163.225.39", "151.140.114.167"},
	{"156.29.3.236", "147.225.12.42"},
	{"165.247.96.84", "162.9.99.234"},
	{"166.107.77.190", "160.132.178.185"},
	{"192.102.249.13", "252.138.62.131"},
	{"192.215.32.125", "252.43.47.189"},
	{"192.233.80.103", "252.25.108.8"},
	{"192.41.57.43", "252.222.221.184"},
	{"193.150.244.223", "253.169.52.216"},
	{"195.205.63.100", "255.186.223.5"},
	{"198.200.171.101", "249.199.68.213"},
	{"198.26.132.101", "249.36.123.202"},
	{"198.36.213.5", "249.7.21.132"},
	{"198.51.77.238", "249.18.186.254"},
	{"199.217.79.101", "248.38.184.213"},
	{"202.49.198.20", "245.206.7.234"},
	{"203.12.160.252", "244.248.163.4"},
	{"204.184.162.189", "243.192.77.90"},
	{"204.202.136.230", "243.178.4.198"},
	{"204.29.20.4", "243.33.20.123"},
	{"205.178.38.67", "242.108.198.51"},
	{"205.188.147.153", "242.96.16.101"},
	{"205.188.248.25", "242.96.88.27"},
	{"205.245.121.43", "242.21.121.163"},
	{"207.105.49.5", "241.118.205.138"},
	{"207.135.65.238", "241.202.129.222"},
	{"207.155.9.214", "241.220.250.22"},
	{"207.188.7.45", "241.255.249.220"},
	{"207.25.71.27", "241.33.119.156"},
	{"207.33.151.131", "241.1.233.131"},
	{"208.147.89.59", "227.237.98.191"},
	{"208.234.120.210", "227.154.67.17"},
	{"208.28.185.184", "227.39.94.90"},
	{"208.52.56.122", "227.8.63.165"},
	{"209.12.231.7", "226.243.167.8"},
	{"209.238.72.3", "226.6.119.243"},
	{"209.246.74.109", "226.22.124.76"},
	{"209.68.60.238", "226.184.220.233"},
	{"209.85.249.6", "226.170.70.6"},
	{"212.120.124.31", "228.135.163.231"},
	{"212.146.8.236", "228.19.4.234"},
	{"212.186.227.154", "228.59.98.98"},
	{"212.204.172.118", "228.71.195.169"},
	{"212.206.130.201", "228.69.242.193"},
	{"216.148.237.145", "235.84.194.111"},
	{"216.157.30.252", "235.89.31.26"},
	{"216.184.159.48", "235.96.225.78"},
	{"216.227.10.221", "235.28.253.36"},
	{"216.254.18.172", "235.7.16.162"},
	{"216.32.132.250", "235.192.139.38"},
	{"216.35.217.178", "235.195.157.81"},
	{"24.0.250.221", "100.15.198.226"},
	{"24.13.62.231", "100.2.192.247"},
	{"24.14.213.138", "100.1.42.141"},
	{"24.5.0.80", "100.9.15.210"},
	{"24.7.198.88", "100.10.6.25"},
	{"24.94.26.44", "100.88.228.35"},
	{"38.15.67.68", "64.3.66.187"},
	{"4.3.88.225", "124.60.155.63"},
	{"63.14.55.111", "95.9.215.7"},
	{"63.195.241.44", "95.179.238.44"},
	{"63.97.7.140", "95.97.9.123"},
	{"64.14.118.196", "0.255.183.58"},
	{"64.34.154.117", "0.221.154.117"},
	{"64.39.15.238", "0.219.7.41"},
	{"10.185.25.118", "117.161.29.118"},
}

// refV6 are IPv6 vectors for refKey published with Yawning/cryptopan and
// node-cryptopan (two independent implementations agreeing).
var refV6 = [][2]string{
	{"::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"},
	{"::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"},
	{"::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"},
	{"2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"},
	{"2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"},
}

// seqVectors are the key 0..31 examples of pycryptopan/yacryptopan (the
// IPv6 one also appears in node-cryptopan's and Tenzir's suites).
var seqVectors = [][2]string{
	{"192.0.2.1", "2.90.93.17"},
	{"2001:db8::1", "dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00"},
}

func mustCPAn(t testing.TB, key []byte, cache int) *CryptoPAn {
	t.Helper()
	c, err := NewCryptoPAnCache(key, cache)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkVectors(t *testing.T, c *CryptoPAn, vecs [][2]string) {
	t.Helper()
	for _, v := range vecs {
		in, want := netip.MustParseAddr(v[0]), netip.MustParseAddr(v[1])
		if got := c.Anonymize(in); got != want {
			t.Errorf("Anonymize(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCryptoPAnReferenceVectors(t *testing.T) {
	// Caching must not change answers: run with the default cache, a tiny
	// cache that keeps evicting, and none. Twice each so hits are exercised.
	for _, size := range []int{DefaultCryptoPAnCache, 2, 0} {
		c := mustCPAn(t, refKey, size)
		for range 2 {
			checkVectors(t, c, refV4)
			checkVectors(t, c, refV6)
		}
		s := mustCPAn(t, seqKey(), size)
		checkVectors(t, s, seqVectors)
	}
}

func TestCryptoPAnMappedAndZero(t *testing.T) {
	c := mustCPAn(t, refKey, 0)
	got := c.Anonymize(netip.MustParseAddr("::ffff:128.11.68.132"))
	if want := netip.MustParseAddr("135.242.180.132"); got != want {
		t.Errorf("4-in-6: got %s, want %s", got, want)
	}
	if got := c.Anonymize(netip.Addr{}); got.IsValid() {
		t.Errorf("zero Addr: got %s", got)
	}
	z := c.Anonymize(netip.MustParseAddr("fe80::1%eth0"))
	if z.Zone() != "" {
		t.Errorf("zone kept: %s", z)
	}
	if z != c.Anonymize(netip.MustParseAddr("fe80::1")) {
		t.Errorf("zone changed the result")
	}
}

func TestNewCryptoPAnErrors(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewCryptoPAn(make([]byte, n)); err == nil {
			t.Errorf("key of %d bytes accepted", n)
		}
	}
	if _, err := NewCryptoPAnCache(refKey, -1); err == nil {
		t.Error("negative cache size accepted")
	}
}

// commonPrefix counts equal leading bits of two 128-bit values.
func commonPrefix(a, b [16]byte) int {
	ah, bh := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if ah != bh {
		return bits.LeadingZeros64(ah ^ bh)
	}
	al, bl := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	return 64 + bits.LeadingZeros64(al^bl)
}

func randV6(r *rand.Rand) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.Uint64())
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	return netip.AddrFrom16(b)
}

// TestCryptoPAnIPv6Properties checks the defining properties on random
// pairs, forced to share prefixes of every length.
func TestCryptoPAnIPv6Properties(t *testing.T) {
	c := mustCPAn(t, seqKey(), 0)
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[netip.Addr]netip.Addr{}
	for i := range 400 {
		a := randV6(r)
		b := a.As16()
		// Flip bit k and randomise below it: exactly k shared bits.
		k := i % 128
		other := randV6(r).As16()
		for bit := k; bit < 128; bit++ {
			byteI, mask := bit/8, byte(0x80>>(bit%8))
			if bit == k {
				b[byteI] ^= mask
				continue
			}
			b[byteI] = b[byteI]&^mask | other[byteI]&mask
		}
		bb := netip.AddrFrom16(b)
		if n := commonPrefix(a.As16(), b); n != k {
			t.Fatalf("test setup: %d shared bits, want %d", n, k)
		}
		ea, eb := c.Anonymize(a), c.Anonymize(bb)
		if n := commonPrefix(ea.As16(), eb.As16()); n != k {
			t.Errorf("%s,%s share %d bits, anonymised %s,%s share %d", a, bb, k, ea, eb, n)
		}
		for _, p := range [][2]netip.Addr{{a, ea}, {bb, eb}} {
			if prev, ok := seen[p[1]]; ok && prev != p[0] {
				t.Errorf("collision: %s and %s both map to %s", prev, p[0], p[1])
			}
			seen[p[1]] = p[0]
		}
		if ea == a {
			t.Errorf("%s maps to itself", a)
		}
	}
}

func TestCryptoPAnIPv4PrefixAndBijection(t *testing.T) {
	// Every address of a /16 (with a /24-granular cache under pressure):
	// the map must be a bijection of the image /16 and prefix preserving.
	c := mustCPAn(t, refKey, 4)
	u := mustCPAn(t, refKey, 0)
	base := uint32(10<<24 | 77<<16)
	img := make(map[uint32]uint32, 1<<16)
	var firstOut uint32
	for i := range uint32(1 << 16) {
		a := base | i
		out := c.anonymize4(a)
		if i == 0 {
			firstOut = out
		}
		if out>>16 != firstOut>>16 {
			t.Fatalf("%08x -> %08x leaves the image /16 %04x", a, out, firstOut>>16)
		}
		if prev, ok := img[out]; ok {
			t.Fatalf("%08x and %08x both map to %08x", prev, a, out)
		}
		img[out] = a
		if i%251 == 0 && u.anonymize4(a) != out {
			t.Fatalf("cached and uncached disagree on %08x", a)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		a, b := r.Uint32(), r.Uint32()
		if want, got := bits.LeadingZeros32(a^b), bits.LeadingZeros32(c.anonymize4(a)^c.anonymize4(b)); want != got {
			t.Errorf("%08x,%08x share %d bits, anonymised share %d", a, b, want, got)
		}
	}
	st := c.Stats()
	if st.Capacity != 4 || st.Entries != 4 || st.Evictions == 0 || st.Misses < 256 {
		t.Errorf("stats after thrashing a 4-slot cache: %+v", st)
	}
	if (CacheStats{}) != u.Stats() {
		t.Errorf("uncached stats: %+v", u.Stats())
	}
}

func TestCryptoPAnKeySensitivity(t *testing.T) {
	k2 := append([]byte(nil), refKey...)
	k2[31] ^= 1 // pad half only
	k3 := append([]byte(nil), refKey...)
	k3[0] ^= 1 // AES half only
	a := netip.MustParseAddr("128.11.68.132")
	v6 := netip.MustParseAddr("2001:db8::1")
	c1 := mustCPAn(t, refKey, 0)
	for _, k := range [][]byte{k2, k3} {
		c := mustCPAn(t, k, 0)
		if c.Anonymize(a) == c1.Anonymize(a) {
			t.Errorf("key change did not change IPv4 output")
		}
		if c.Anonymize(v6) == c1.Anonymize(v6) {
			t.Errorf("key change did not change IPv6 output")
		}
	}
}

func TestCryptoPAnConcurrent(t *testing.T) {
	c := mustCPAn(t, refKey, 8) // small: concurrent evictions too
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := refV4[(g+i)%len(refV4)]
				if got := c.Anonymize(netip.MustParseAddr(v[0])).String(); got != v[1] {
					t.Errorf("concurrent Anonymize(%s) = %s, want %s", v[0], got, v[1])
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchAddrs draws IPv4 addresses from 4096 random /24s, as a sensor sees a
// working set of networks rather than uniformly random addresses.
func benchAddrs() []netip.Addr {
	r := rand.New(rand.NewPCG(5, 6))
	prefixes := make([]uint32, 4096)
	for i := range prefixes {
		prefixes[i] = r.Uint32() &^ 0xff
	}
	addrs := make([]netip.Addr, 1<<16)
	for i := range addrs {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], prefixes[r.IntN(len(prefixes))]|uint32(r.IntN(256)))
		addrs[i] = netip.AddrFrom4(b)
	}
	return addrs
}

func benchAnonymize(b *testing.B, c *CryptoPAn, addrs []netip.Addr) {
	b.ReportAllocs()
	b.ResetTimer()
	var sink netip.Addr
	i := 0
	for b.Loop() {
		sink = c.Anonymize(addrs[i&(len(addrs)-1)])
		i++
	}
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(b.N)/sec, "addrs/s")
	}
	_ = sink
}

func BenchmarkCryptoPAnIPv4(b *testing.B) {
	benchAnonymize(b, mustCPAn(b, refKey, DefaultCryptoPAnCache), benchAddrs())
}

func BenchmarkCryptoPAnIPv4Uncached(b *testing.B) {
	benchAnonymize(b, mustCPAn(b, refKey, 0), benchAddrs())
}

func BenchmarkCryptoPAnIPv6(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	addrs := make([]netip.Addr, 1<<12)
	for i := range addrs {
		addrs[i] = randV6(r)
	}
	benchAnonymize(b, mustCPAn(b, refKey, DefaultCryptoPAnCache), addrs)
}
