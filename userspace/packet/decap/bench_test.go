package decap

import "testing"

func benchParse(b *testing.B, build func(*fb)) {
	x := newFB(b)
	build(x)
	fr := x.frame()
	var f Frame
	if err := Parse(fr, &f); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Parse(fr, &f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseIPv4TCP(b *testing.B) {
	benchParse(b, func(x *fb) { x.eth(eIPv4).ip4("192.0.2.1", "198.51.100.2", tTCP).tcp(40000, 443).payload(1400) })
}

func BenchmarkParseIPv6TCP(b *testing.B) {
	benchParse(b, func(x *fb) { x.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(40000, 443).payload(1400) })
}

func BenchmarkParseVLANx4(b *testing.B) {
	benchParse(b, func(x *fb) {
		x.eth(eQinQ).vlan(10, eVLAN).vlan(20, eVLAN).vlan(30, eVLAN).vlan(40, eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(1400)
	})
}

func BenchmarkParseVXLAN(b *testing.B) {
	benchParse(b, func(x *fb) {
		x.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(50000, 4789).vxlan(0xabcdef).eth(eIPv4).
			ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(1400)
	})
}

func BenchmarkParseGTPUExtensions(b *testing.B) {
	benchParse(b, func(x *fb) {
		x.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(0x01020304, []byte{1, 2}, []byte{1, 2, 3, 4, 5, 6}).
			ip4("10.45.0.1", "93.184.216.34", tTCP).tcp(1, 2).payload(1300)
	})
}

func BenchmarkParse4Tunnels(b *testing.B) {
	for _, c := range good {
		if c.name == "4 tunnels" {
			benchParse(b, c.build)
		}
	}
}

func BenchmarkRebuildVXLAN(b *testing.B) {
	x := newFB(b)
	x.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(50000, 4789).vxlan(0xabcdef).eth(eIPv4).
		ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(1400)
	fr := x.frame()
	var f Frame
	if err := Parse(fr, &f); err != nil {
		b.Fatal(err)
	}
	inner := fr[f.L3:f.L3End]
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = Rebuild(dst, fr, f.L3, inner); err != nil {
			b.Fatal(err)
		}
	}
}
