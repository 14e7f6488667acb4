package communityid

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// baseline is the specification's reference data
// (community-id-spec/baseline/baseline_deflt.json and
// baseline_seed1.json, computed by its reference implementation over
// its pcaps/combined.pcap.gz): each flow as the packet had it, with its
// id under seed 0 and seed 1. The ICMP ports are the spec's port
// equivalents of type and code; protocol 46 (RSVP) has no ports.
var baseline = []struct {
	proto        uint8
	saddr        string
	sport        uint16
	daddr        string
	dport        uint16
	seed0, seed1 string
}{
	{58, "fe80::200:86ff:fe05:80da", 135, "fe80::260:97ff:fe07:69ea", 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", 136, "fe80::200:86ff:fe05:80da", 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
	{58, "fe80::260:97ff:fe07:69ea", 135, "fe80::200:86ff:fe05:80da", 136, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
	{58, "fe80::200:86ff:fe05:80da", 136, "fe80::260:97ff:fe07:69ea", 135, "1:zavyT/cezQr1fmImYCwYnMXbgck=", "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
	{58, "3ffe:501:1800:2345::2", 3, "3ffe:507:0:1:200:86ff:fe05:80da", 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
	{58, "3ffe:501:410:0:2c0:dfff:fe47:33e", 1, "3ffe:507:0:1:200:86ff:fe05:80da", 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0=", "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
	{58, "3ffe:507:0:1:200:86ff:fe05:80da", 128, "3ffe:501:0:1001::2", 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "3ffe:501:0:1001::2", 129, "3ffe:507:0:1:200:86ff:fe05:80da", 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=", "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
	{58, "fe80::200:86ff:fe05:80da", 133, "ff02::2", 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
	{58, "fe80::260:97ff:fe07:69ea", 134, "ff02::1", 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00=", "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
	{1, "192.168.0.89", 8, "192.168.0.1", 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "192.168.0.1", 0, "192.168.0.89", 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
	{1, "10.0.0.1", 11, "10.0.0.2", 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
	{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", 63943, "2607:f8b0:400c:c03::1a", 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{6, "2607:f8b0:400c:c03::1a", 25, "2001:470:e5bf:dead:4957:2174:e82c:4887", 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
	{132, "192.168.170.8", 7, "192.168.170.56", 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{132, "192.168.170.56", 7, "192.168.170.8", 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
	{6, "128.232.110.120", 34855, "66.35.250.204", 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{6, "66.35.250.204", 80, "128.232.110.120", 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
	{17, "192.168.1.52", 54585, "8.8.8.8", 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{17, "8.8.8.8", 53, "192.168.1.52", 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
	{46, "10.1.12.1", 0, "10.1.12.2", 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
	{46, "10.1.12.2", 0, "10.1.12.1", 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="},
}

func ap(addr string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(addr), port)
}

// The spec's README example: 1.2.3.4:1024 -> 5.6.7.8:80 over TCP.
func TestGolden(t *testing.T) {
	const want = "1:RcCrCS5fwYUeIzgDDx64EN3+okU="
	a, b := ap("1.2.3.4", 1024), ap("5.6.7.8", 80)
	if got := String(0, TCP, a, b); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := String(0, TCP, b, a); got != want {
		t.Errorf("reversed: got %s, want %s", got, want)
	}
	// IPv4-mapped IPv6 is IPv4, and zones are no part of the hash.
	if got := String(0, TCP, ap("::ffff:1.2.3.4", 1024), b); got != want {
		t.Errorf("mapped: got %s, want %s", got, want)
	}
}

func TestBaseline(t *testing.T) {
	for _, v := range baseline {
		a, b := ap(v.saddr, v.sport), ap(v.daddr, v.dport)
		for seed, want := range map[uint16]string{0: v.seed0, 1: v.seed1} {
			if got := String(seed, v.proto, a, b); got != want {
				t.Errorf("%d %s:%d -> %s:%d seed %d: got %s, want %s", v.proto, v.saddr, v.sport, v.daddr, v.dport, seed, got, want)
			}
			if got := string(Append([]byte("x"), seed, v.proto, a, b)); got != "x"+want {
				t.Errorf("Append: got %s, want x%s", got, want)
			}
		}
	}
}

// Addresses that cannot make a flow make no id.
func TestInvalid(t *testing.T) {
	v4, v6 := ap("10.0.0.1", 1), ap("fd00::1", 2)
	for _, c := range [][2]netip.AddrPort{{v4, v6}, {v6, v4}, {{}, v4}, {v6, {}}, {{}, {}}} {
		if got := String(0, TCP, c[0], c[1]); got != "" {
			t.Errorf("%v %v: %q", c[0], c[1], got)
		}
		if got := Append([]byte("keep"), 0, TCP, c[0], c[1]); string(got) != "keep" {
			t.Errorf("%v %v: Append made %q", c[0], c[1], got)
		}
	}
	// A protocol without ports ignores them.
	if String(0, 47, ap("10.0.0.1", 1), ap("10.0.0.2", 2)) != String(0, 47, ap("10.0.0.2", 9), ap("10.0.0.1", 7)) {
		t.Error("GRE: ports hashed")
	}
	if String(0, TCP, ap("fe80::1%eth0", 1), ap("fe80::2", 2)) != String(0, TCP, ap("fe80::1", 1), ap("fe80::2", 2)) {
		t.Error("a zone changed the id")
	}
}

// reference is the spec's pseudo code, written plainly: every piece in
// network byte order into one hash, the endpoints ordered by their bytes.
func reference(seed uint16, proto uint8, a, b netip.AddrPort) string {
	aa, ba := a.Addr().Unmap().AsSlice(), b.Addr().Unmap().AsSlice()
	if len(aa) != len(ba) || len(aa) == 0 {
		return ""
	}
	ports := proto == 1 || proto == 6 || proto == 17 || proto == 58 || proto == 132
	sp, dp := a.Port(), b.Port()
	if !ports {
		sp, dp = 0, 0
	}
	if c := bytes.Compare(aa, ba); c > 0 || c == 0 && sp > dp {
		aa, ba, sp, dp = ba, aa, dp, sp
	}
	h := sha1.New()
	h.Write(binary.BigEndian.AppendUint16(nil, seed))
	h.Write(aa)
	h.Write(ba)
	h.Write([]byte{proto, 0})
	if ports {
		h.Write(binary.BigEndian.AppendUint16(nil, sp))
		h.Write(binary.BigEndian.AppendUint16(nil, dp))
	}
	return "1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func addrOf(b []byte, v4 bool) netip.Addr {
	var a [16]byte
	copy(a[:], b)
	if v4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

// FuzzCommunityID: the id is the same both ways, has the spec's form
// ("1:" and the padded base64 of a 20-byte digest), Append and String
// agree, an IPv4-mapped address hashes as its IPv4 one, and the plain
// reference computes the same.
//
//	go test -fuzz FuzzCommunityID ./userspace/export/ecs/communityid
func FuzzCommunityID(f *testing.F) {
	f.Add(uint16(0), uint8(6), []byte{1, 2, 3, 4}, uint16(1024), []byte{5, 6, 7, 8}, uint16(80), true)
	f.Add(uint16(1), uint8(17), []byte{0xfd, 0, 15: 1}, uint16(443), []byte{0xfd, 0, 15: 2}, uint16(50000), false)
	f.Add(uint16(65535), uint8(46), []byte{10, 0, 0, 1}, uint16(0), []byte{10, 0, 0, 1}, uint16(0), true)
	f.Fuzz(func(t *testing.T, seed uint16, proto uint8, ab []byte, aport uint16, bb []byte, bport uint16, v4 bool) {
		a := netip.AddrPortFrom(addrOf(ab, v4), aport)
		b := netip.AddrPortFrom(addrOf(bb, v4), bport)
		id := String(seed, proto, a, b)
		if a.Addr().Unmap().Is4() != b.Addr().Unmap().Is4() {
			// An IPv4(-mapped) address and an IPv6 one are no flow.
			if id != "" {
				t.Fatalf("%v -> %v: %s, want none", a, b, id)
			}
			return
		}
		if back := String(seed, proto, b, a); back != id {
			t.Fatalf("%v -> %v: %s, back %s", a, b, id, back)
		}
		if len(id) != Len || !strings.HasPrefix(id, Prefix) {
			t.Fatalf("form: %q", id)
		}
		if d, err := base64.StdEncoding.DecodeString(id[len(Prefix):]); err != nil || len(d) != sha1.Size {
			t.Fatalf("form: %q: %v", id, err)
		}
		if got := Append(nil, seed, proto, a, b); string(got) != id {
			t.Fatalf("Append %q, String %q", got, id)
		}
		if ref := reference(seed, proto, a, b); ref != id {
			t.Fatalf("reference %s, got %s", ref, id)
		}
		if v4 {
			mapped := netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), aport)
			if got := String(seed, proto, mapped, b); got != id {
				t.Fatalf("mapped %v: %s, want %s", mapped, got, id)
			}
		}
	})
}

// BenchmarkAppend is the cost of an id per event: it must not allocate.
//
//	go test -run - -bench . -benchmem ./userspace/export/ecs/communityid
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		c, s netip.AddrPort
	}{
		{"ipv4", ap("10.200.0.1", 40108), ap("10.200.0.2", 443)},
		{"ipv6", ap("2001:db8::1", 40108), ap("2001:db8:ffff::2", 443)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, Len)
			b.ReportAllocs()
			for b.Loop() {
				buf = Append(buf[:0], 0, TCP, bc.c, bc.s)
			}
			if len(buf) != Len {
				b.Fatalf("%q", buf)
			}
		})
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, Len)
	c, s := ap("2001:db8::1", 40108), ap("2001:db8:ffff::2", 443)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], 7, UDP, c, s) }); n != 0 {
		t.Errorf("%v allocations per id", n)
	}
}
