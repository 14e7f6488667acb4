package csum

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// naive is RFC 1071's reference loop: 16-bit big-endian words into a
// 32-bit accumulator, folded at the end.
func naive(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = (s >> 16) + (s & 0xffff)
	}
	return uint32(s)
}

func TestSumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4200)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for i := range 20000 {
		off := r.IntN(16)
		n := r.IntN(len(buf) - off)
		if i%4 == 0 {
			n = r.IntN(70)
		}
		b := buf[off : off+n]
		init := r.Uint32()
		if i%3 == 0 {
			init = 0
		}
		if got, want := Sum(b, init), naive(b, init); got != want {
			t.Fatalf("len %d off %d init %#x: got %#x want %#x", n, off, init, got, want)
		}
	}
	// All ones: the carries of every lane.
	ones := make([]byte, 1501)
	for i := range ones {
		ones[i] = 0xff
	}
	for n := range ones {
		if got, want := Sum(ones[:n], 0xffffffff), naive(ones[:n], 0xffffffff); got != want {
			t.Fatalf("ones len %d: got %#x want %#x", n, got, want)
		}
	}
}

func TestSumChains(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 999)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for cut := 0; cut < len(b); cut += 2 {
		if got, want := Sum(b[cut:], Sum(b[:cut], 0)), naive(b, 0); got != want {
			t.Fatalf("cut %d: got %#x want %#x", cut, got, want)
		}
	}
}

// packet serializes layers with gopacket computing every checksum: an
// independent source of correct checksums.
func packet(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIPv4Header(t *testing.T) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 0x1234,
		SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{198, 51, 100, 7},
		Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}}
	p := packet(t, ip, gopacket.Payload([]byte("abc")))
	h := p[:int(p[0]&0x0f)*4]
	want := binary.BigEndian.Uint16(h[10:])
	if got := IPv4Header(h); got != want {
		t.Fatalf("IPv4Header %#x, gopacket %#x", got, want)
	}
	if !IPv4HeaderValid(h) {
		t.Fatal("valid header judged invalid")
	}
	h[8]-- // TTL
	if IPv4HeaderValid(h) {
		t.Fatal("changed header judged valid")
	}
	if got := IPv4Header(h); got == want {
		t.Fatal("checksum did not follow the TTL")
	}
}

func TestL4(t *testing.T) {
	v4s, v4d := net.IP{10, 1, 2, 3}, net.IP{10, 9, 8, 7}
	v6s, v6d := net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8:ffff::2")
	payload := gopacket.Payload([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n!"))
	type tc struct {
		name  string
		pkt   []byte
		proto uint8
		at    int // checksum field offset in the segment
	}
	var cases []tc
	for _, fam := range []int{4, 6} {
		mk := func(l4 gopacket.SerializableLayer, proto layers.IPProtocol) []byte {
			var ipl gopacket.SerializableLayer
			var nl gopacket.NetworkLayer
			if fam == 4 {
				ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: v4s, DstIP: v4d}
				ipl, nl = ip, ip
			} else {
				ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: v6s, DstIP: v6d}
				ipl, nl = ip, ip
			}
			switch l := l4.(type) {
			case *layers.TCP:
				_ = l.SetNetworkLayerForChecksum(nl)
			case *layers.UDP:
				_ = l.SetNetworkLayerForChecksum(nl)
			}
			return packet(t, ipl, l4, payload)
		}
		cases = append(cases,
			tc{"tcp" + string(rune('0'+fam)), mk(&layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 7, ACK: true, PSH: true, Window: 500, DataOffset: 5}, layers.IPProtocolTCP), 6, 16},
			tc{"udp" + string(rune('0'+fam)), mk(&layers.UDP{SrcPort: 5353, DstPort: 53}, layers.IPProtocolUDP), 17, 6})
	}
	for _, c := range cases {
		var src, dst netip.Addr
		var l4 int
		if c.pkt[0]>>4 == 4 {
			src, dst = netip.AddrFrom4([4]byte(c.pkt[12:16])), netip.AddrFrom4([4]byte(c.pkt[16:20]))
			l4 = 20
		} else {
			src, dst = netip.AddrFrom16([16]byte(c.pkt[8:24])), netip.AddrFrom16([16]byte(c.pkt[24:40]))
			l4 = 40
		}
		seg := append([]byte(nil), c.pkt[l4:]...)
		if got := L4(src, dst, c.proto, seg); got != Valid {
			t.Errorf("%s: gopacket's checksum judged %v", c.name, got)
		}
		seg[len(seg)-1] ^= 0x40
		if got := L4(src, dst, c.proto, seg); got != Invalid {
			t.Errorf("%s: corrupted payload judged %v", c.name, got)
		}
		// The pseudo-header sum, computed here by the reference loop.
		var ph []byte
		ph = append(ph, src.AsSlice()...)
		ph = append(ph, dst.AsSlice()...)
		ph = append(ph, 0, c.proto, byte(len(seg)>>8), byte(len(seg)))
		binary.BigEndian.PutUint16(seg[c.at:], uint16(naive(ph, 0)))
		if got := L4(src, dst, c.proto, seg); got != Partial {
			t.Errorf("%s: offload pseudo-header field judged %v", c.name, got)
		}
		binary.BigEndian.PutUint16(seg[c.at:], 0)
		if got := L4(src, dst, c.proto, seg); got != Partial {
			t.Errorf("%s: zero field judged %v", c.name, got)
		}
		binary.BigEndian.PutUint16(seg[c.at:], ^uint16(naive(ph, 0)))
		if got := L4(src, dst, c.proto, seg); got != Invalid {
			t.Errorf("%s: complemented pseudo-header field judged %v", c.name, got)
		}
		if got := L4(src, dst, 1, seg); got != Invalid {
			t.Errorf("%s: ICMP judged %v", c.name, got)
		}
		if got := L4(src, dst, c.proto, seg[:c.at]); got != Invalid {
			t.Errorf("%s: cut segment judged %v", c.name, got)
		}
	}
}

func FuzzSum(f *testing.F) {
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0xff}, uint32(0xffffffff))
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789"), uint32(0x1234))
	f.Fuzz(func(t *testing.T, b []byte, init uint32) {
		if got, want := Sum(b, init), naive(b, init); got != want {
			t.Fatalf("got %#x want %#x", got, want)
		}
	})
}

func BenchmarkSum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var s uint32
	for b.Loop() {
		s = Sum(buf, s)
	}
	_ = s
}

func BenchmarkSum64K(b *testing.B) {
	buf := make([]byte, 65536)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var s uint32
	for b.Loop() {
		s = Sum(buf, s)
	}
	_ = s
}

func BenchmarkL4TCP1500(b *testing.B) {
	seg := make([]byte, 1480)
	for i := range seg {
		seg[i] = byte(i)
	}
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = L4(src, dst, 6, seg)
	}
}
