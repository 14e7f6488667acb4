package decap

import (
	"errors"
	"testing"

	"github.com/google/gopacket/layers"
)

const (
	tTCP, tUDP, tIPIP, tIPv6, tGRE, tICMP = 6, 17, 4, 41, 47, 1

	eIPv4, eIPv6, eVLAN, eQinQ, eVLAN9100, eMPLS, ePPPoE, eTEB = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x9100, 0x8847, 0x8864, 0x6558
)

// frag4 makes the last IPv4 header a fragment.
func (b *fb) frag4(offset int, more bool) *fb {
	ip := b.net.(*layers.IPv4)
	ip.FragOffset = uint16(offset / 8)
	if more {
		ip.Flags |= layers.IPv4MoreFragments
	}
	b.w.fragment = true
	b.w.frag = FragInfo{ID: uint32(ip.Id), Offset: offset, More: more, DataOff: b.off}
	return b
}

func key(k uint32) *uint32 { return &k }

type tcase struct {
	name   string
	build  func(b *fb)
	mutate func(fr []byte, b *fb) // optional, after building
	err    error
}

// good are frames Parse follows to the innermost L4 header or fragment.
var good = []tcase{
	{name: "ipv4 tcp", build: func(b *fb) { b.eth(eIPv4).ip4("192.0.2.1", "198.51.100.2", tTCP).tcp(40000, 443).payload(100) }},
	{name: "ipv4 options udp", build: func(b *fb) { b.eth(eIPv4).ip4opt("192.0.2.1", "198.51.100.2", tUDP, 3).udp(5353, 53).payload(30) }},
	{name: "ipv6 tcp", build: func(b *fb) { b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10) }},
	{name: "ipv6 ext chain", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 0).ext6(0, 60, 0).ext6(60, 43, 2).ext6(43, 51, 1).
			ext6(51, 135, 4).ext6(135, 139, 0).ext6(139, 140, 0).ext6(140, tUDP, 1).udp(1000, 2000).payload(10)
	}},
	{name: "ipv6 atomic fragment", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 44).frag6(tTCP, 0, false, 99).tcp(80, 1234).payload(40)
	}},
	{name: "vlan", build: func(b *fb) { b.eth(eVLAN).vlan(100, eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10) }},
	{name: "vlan x4 mixed tpids", build: func(b *fb) {
		b.eth(eQinQ).vlan(10, eVLAN).vlan(20, eVLAN9100).vlan(4095, eVLAN).vlan(1, eIPv6).
			ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "mpls ipv4", build: func(b *fb) { b.eth(eMPLS).mpls(false, 16).ip4("10.0.0.1", "10.0.0.2", tUDP).udp(1, 2).payload(30) }},
	{name: "mpls x8 ipv6", build: func(b *fb) {
		b.eth(eMPLS).mpls(false, 1, 2, 3, 4, 5, 6, 7, 0xfffff).ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "eompls with vlan", build: func(b *fb) {
		b.eth(eVLAN).vlan(7, eMPLS).mpls(true, 300, 301).eth(eVLAN).vlan(8, eIPv4).ip4("10.1.0.1", "10.1.0.2", tTCP).tcp(5, 6).payload(10)
	}},
	{name: "pppoe ipv4", build: func(b *fb) {
		b.eth(ePPPoE).pppoe(0x1234, 0x0021).ip4("100.64.0.1", "8.8.8.8", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "vlan pppoe ipv6", build: func(b *fb) {
		b.eth(eVLAN).vlan(35, ePPPoE).pppoe(7, 0x0057).ip6("2001:db8::1", "2001:db8::2", tUDP).udp(1, 2).payload(10)
	}},
	{name: "ipip", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tIPIP).ipip(KindIPIP).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "sit", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tIPv6).ipip(KindSIT).ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "ip6ip6", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tIPv6).ipip(KindIP6IP6).ip6("2001:db8::1", "2001:db8::2", tUDP).udp(1, 2).payload(10)
	}},
	{name: "ip4ip6 after ext", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", 60).ext6(60, tIPIP, 0).ipip(KindIP4IP6).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "gre ipv4", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eIPv4, nil, false, false).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "gre key ipv6 over ipv6", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tGRE).gre(eIPv6, key(0xdeadbeef), false, false).
			ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "gre csum key seq teb", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eTEB, key(42), true, true).eth(eVLAN).vlan(9, eIPv4).
			ip4("10.0.0.1", "10.0.0.2", tUDP).udp(1, 2).payload(10)
	}},
	{name: "gre mpls", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eMPLS, nil, false, true).mpls(false, 99).
			ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "vxlan", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(50000, 4789).vxlan(0xabcdef).eth(eIPv4).
			ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "vxlan over ipv6 inner vlan", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tUDP).udp(50000, 4789).vxlan(1).eth(eVLAN).vlan(3, eIPv6).
			ip6("2001:db8::1", "2001:db8::2", tUDP).udp(1, 2).payload(10)
	}},
	{name: "geneve eth", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 6081).geneve(77, eTEB, 0).eth(eIPv4).
			ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "geneve options ipv4", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 6081).geneve(0xffffff, eIPv4, 5).
			ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "geneve ipv6", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tUDP).udp(1, 6081).geneve(5, eIPv6, 1).
			ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "gtpu", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(0x01020304).
			ip4("10.45.0.1", "93.184.216.34", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "gtpu source port only", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 40000).gtp(9).
			ip6("2001:db8::1", "2001:db8::2", tUDP).udp(1, 2).payload(10)
	}},
	{name: "gtpu 4 extensions", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tUDP).udp(2152, 2152).
			gtp(0xffffffff, []byte{1, 2}, []byte{1, 2, 3, 4, 5, 6}, []byte{9, 9}, []byte{0, 0}).
			ip4("10.45.0.1", "10.45.0.2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "4 tunnels", build: func(b *fb) {
		b.eth(eVLAN).vlan(1, eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eTEB, key(5), false, false).
			eth(eIPv6).ip6("2001:db8::a", "2001:db8::b", tUDP).udp(1, 4789).vxlan(6).
			eth(eMPLS).mpls(false, 20).ip4("198.51.100.1", "198.51.100.2", tUDP).udp(2152, 2152).gtp(7, []byte{1, 2}).
			ip4("203.0.113.1", "203.0.113.2", tIPv6).ipip(KindSIT).ip6("2001:db8::1", "2001:db8::2", tTCP).tcp(1, 2).payload(10)
	}},
	{name: "ipv4 first fragment", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tTCP).frag4(0, true).tcp(1, 2).payload(40)
	}},
	{name: "ipv4 later fragment", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).frag4(1480, false).payload(40)
	}},
	{name: "ipv6 fragment after and before ext", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 0).ext6(0, 44, 0).frag6(60, 0, true, 0xfeedface).ext6(60, tUDP, 0).payload(48)
	}},
	{name: "ipv6 later fragment", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 44).frag6(tTCP, 1232, true, 7).payload(48)
	}},
	{name: "fragment inside vxlan", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 4789).vxlan(3).eth(eIPv4).
			ip4("10.0.0.1", "10.0.0.2", tUDP).frag4(8, true).payload(16)
	}},
}

// bad are frames Parse does not follow, and why.
var bad = []tcase{
	{name: "arp", build: func(b *fb) { b.eth(0x0806).payload(46) }, err: ErrNotIP},
	{name: "pppoe discovery", build: func(b *fb) { b.eth(0x8863).payload(46) }, err: ErrNotIP},
	{name: "pppoe lcp", build: func(b *fb) { b.eth(ePPPoE).pppoe(1, 0xc021).payload(40) }, err: ErrNotIP},
	{name: "pppoe bad version", build: func(b *fb) { b.eth(ePPPoE).pppoe(1, 0x0021).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2) },
		mutate: func(fr []byte, b *fb) { fr[14] = 0x12 }, err: ErrMalformed},
	{name: "vlan x5", build: func(b *fb) {
		b.eth(eVLAN).vlan(1, eVLAN).vlan(2, eVLAN).vlan(3, eVLAN).vlan(4, eVLAN).vlan(5, eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, err: ErrVLANDepth},
	{name: "mpls x9", build: func(b *fb) {
		b.eth(eMPLS).mpls(false, 1, 2, 3, 4, 5, 6, 7, 8, 9).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, err: ErrMPLSDepth},
	{name: "mpls payload", build: func(b *fb) { b.eth(eMPLS).mpls(false, 1).payload(50) },
		mutate: func(fr []byte, b *fb) { fr[18] = 0x50 }, err: ErrMPLSPayload},
	{name: "ipv6 ext x33", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 60)
		for range 32 {
			b.ext6(60, 60, 0)
		}
		b.ext6(60, tTCP, 0).tcp(1, 2)
	}, err: ErrIPv6ExtDepth},
	{name: "5 tunnels", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tIPIP).ipip(KindIPIP).ip4("192.0.2.3", "192.0.2.4", tIPIP).ipip(KindIPIP).
			ip4("192.0.2.5", "192.0.2.6", tGRE).gre(eIPv4, nil, false, false).ip4("192.0.2.7", "192.0.2.8", tUDP).udp(1, 4789).vxlan(1).
			eth(eIPv4).ip4("192.0.2.9", "192.0.2.10", tIPIP).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, err: ErrTunnelDepth},
	{name: "gre version 1", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eIPv4, nil, false, false).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[35] |= 1 }, err: ErrGREVersion},
	{name: "gre routing bit", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(eIPv4, nil, false, false).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[34] |= 0x40 }, err: ErrGREVersion},
	{name: "gre ppp", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tGRE).gre(0x880b, nil, false, false).payload(30)
	}, err: ErrNotIP},
	{name: "gtpu 5 extensions", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(1, []byte{1, 2}, []byte{1, 2}, []byte{1, 2}, []byte{1, 2}, []byte{1, 2}).
			ip4("10.45.0.1", "10.45.0.2", tTCP).tcp(1, 2)
	}, err: ErrGTPExtDepth},
	{name: "gtpu echo", build: func(b *fb) { b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(1).payload(30) },
		mutate: func(fr []byte, b *fb) { fr[43] = 1 }, err: ErrNotIP},
	{name: "gtpu version 2", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(1).ip4("10.45.0.1", "10.45.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[42] = 0x50 }, err: ErrMalformed},
	{name: "gtpu zero extension", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(1, []byte{1, 2}).ip4("10.45.0.1", "10.45.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[42+12] = 0 }, err: ErrMalformed},
	{name: "gtpu not ip", build: func(b *fb) { b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(2152, 2152).gtp(1).payload(30) },
		mutate: func(fr []byte, b *fb) { fr[50] = 0x00 }, err: ErrNotIP},
	{name: "vxlan without I", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 4789).vxlan(1).eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[42] = 0 }, err: ErrMalformed},
	{name: "geneve version 1", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 6081).geneve(1, eIPv4, 0).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, mutate: func(fr []byte, b *fb) { fr[42] |= 0x40 }, err: ErrMalformed},
	{name: "geneve arp", build: func(b *fb) {
		b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tUDP).udp(1, 6081).geneve(1, 0x0806, 0).payload(28)
	}, err: ErrNotIP},
	{name: "layers x17", build: func(b *fb) {
		b.eth(eVLAN)
		for i := range 4 {
			b.vlan(uint16(i+1), eVLAN).vlan(1, eVLAN).vlan(2, eVLAN).vlan(3, eMPLS).mpls(true, 1).eth(eVLAN)
		}
		b.vlan(9, eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2)
	}, err: ErrLayerDepth},
	{name: "icmp", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tICMP).payload(40) }, err: ErrNotAnalysed},
	{name: "ipv6 esp", build: func(b *fb) { b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 50).payload(40) }, err: ErrNotAnalysed},
	{name: "ipv6 no next header", build: func(b *fb) { b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 0).ext6(0, 59, 0).payload(8) }, err: ErrNotAnalysed},
	{name: "ipv4 version 6", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2) },
		mutate: func(fr []byte, b *fb) { fr[14] = 0x65 }, err: ErrMalformed},
	{name: "ipv4 ihl 4", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2) },
		mutate: func(fr []byte, b *fb) { fr[14] = 0x44 }, err: ErrMalformed},
	{name: "ipv4 total below ihl", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2) },
		mutate: func(fr []byte, b *fb) { fr[16], fr[17] = 0, 19 }, err: ErrMalformed},
	{name: "tcp data offset 4", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10) },
		mutate: func(fr []byte, b *fb) { fr[46] = 0x40 }, err: ErrMalformed},
	{name: "tcp past ip payload", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10) },
		mutate: func(fr []byte, b *fb) { fr[16], fr[17] = 0, 36 }, err: ErrMalformed},
	{name: "tcp options past ip payload", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10) },
		mutate: func(fr []byte, b *fb) { fr[46] = 0xf0 }, err: ErrMalformed},
	{name: "udp past ip payload", build: func(b *fb) { b.eth(eIPv4).ip4("10.0.0.1", "10.0.0.2", tUDP).udp(1, 2).payload(10) },
		mutate: func(fr []byte, b *fb) { fr[16], fr[17] = 0, 24 }, err: ErrMalformed},
	{name: "ipv6 fragment header past payload", build: func(b *fb) {
		b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 44).frag6(tTCP, 8, true, 7).payload(16)
	}, mutate: func(fr []byte, b *fb) { fr[18], fr[19] = 0, 4 }, err: ErrMalformed},
}

func TestParseGood(t *testing.T) {
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			b := newFB(t)
			c.build(b)
			fr := b.frame()
			var f Frame
			if err := Parse(fr, &f); err != nil {
				t.Fatalf("Parse: %v (layers %v)", err, kinds(&f))
			}
			b.check(t, fr, &f)
		})
	}
}

func TestParseBad(t *testing.T) {
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			b := newFB(t)
			c.build(b)
			fr := b.frame()
			if c.mutate != nil {
				c.mutate(fr, b)
			}
			var f Frame
			err := Parse(fr, &f)
			if !errors.Is(err, c.err) {
				t.Fatalf("Parse: %v, want %v (layers %v)", err, c.err, kinds(&f))
			}
			if Reason(err) != c.err.(*Error).Reason() || Reason(err) == "" {
				t.Errorf("reason %q", Reason(err))
			}
		})
	}
}

// The limits are exact: one below each failing case of bad is followed.
func TestParseAtLimits(t *testing.T) {
	cases := []func(b *fb){
		func(b *fb) { // 16 layers
			b.eth(eVLAN)
			for i := range 3 {
				b.vlan(uint16(i+1), eVLAN).vlan(1, eVLAN).vlan(2, eVLAN).vlan(3, eMPLS).mpls(true, 1).eth(eVLAN)
			}
			b.vlan(9, eIPv4).ip4("10.0.0.1", "10.0.0.2", tTCP).tcp(1, 2).payload(10)
		},
		func(b *fb) { // 32 extension headers
			b.eth(eIPv6).ip6("2001:db8::1", "2001:db8::2", 60)
			for range 31 {
				b.ext6(60, 60, 0)
			}
			b.ext6(60, tTCP, 0).tcp(1, 2).payload(10)
		},
	}
	for i, c := range cases {
		b := newFB(t)
		c(b)
		fr := b.frame()
		var f Frame
		if err := Parse(fr, &f); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		b.check(t, fr, &f)
	}
}

func TestParseFirstFragmentL4(t *testing.T) {
	b := newFB(t)
	b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tTCP).frag4(0, true).tcp(1111, 2222).payload(40)
	fr := b.frame()
	var f Frame
	if err := Parse(fr, &f); err != nil {
		t.Fatal(err)
	}
	if f.L4 != 34 || f.Sport != 1111 || f.Dport != 2222 || f.Payload != 54 || f.PayloadLen != 40 {
		t.Errorf("first fragment: l4 %d ports %d>%d payload %d+%d", f.L4, f.Sport, f.Dport, f.Payload, f.PayloadLen)
	}
	// A first fragment too short for the TCP header: ports, no payload.
	fr = fr[:34+12]
	fr[16], fr[17] = 0, 32
	f = Frame{}
	if err := Parse(fr, &f); err != nil {
		t.Fatal(err)
	}
	if f.L4 != 34 || f.Sport != 1111 || f.Payload != 0 {
		t.Errorf("tiny first fragment: l4 %d sport %d payload %d", f.L4, f.Sport, f.Payload)
	}
	b = newFB(t)
	b.eth(eIPv4).ip4("192.0.2.1", "192.0.2.2", tTCP).frag4(16, true).payload(40)
	fr = b.frame()
	if err := Parse(fr, &f); err != nil {
		t.Fatal(err)
	}
	if f.L4 != 0 || f.Sport != 0 || f.Payload != 0 {
		t.Errorf("later fragment: l4 %d sport %d payload %d", f.L4, f.Sport, f.Payload)
	}
}

// Lengths that claim more than the frame holds mark it Truncated and the
// parse goes on; a Parse reuses its Frame without leftovers.
func TestParseTruncatedFlag(t *testing.T) {
	b := newFB(t)
	b.eth(eVLAN).vlan(5, ePPPoE).pppoe(9, 0x0021).ip4("10.0.0.1", "10.0.0.2", tUDP).udp(1, 2152).gtp(3).
		ip4("10.9.0.1", "10.9.0.2", tTCP).tcp(1, 2).payload(100)
	fr := b.frame()
	var f Frame
	if err := Parse(fr, &f); err != nil || f.Truncated {
		t.Fatalf("whole: %v truncated %v", err, f.Truncated)
	}
	cut := fr[:len(fr)-50]
	if err := Parse(cut, &f); err != nil || !f.Truncated {
		t.Fatalf("cut in the payload: %v truncated %v", err, f.Truncated)
	}
	if f.N != 3 || f.L4 != b.w.l4 || f.Sport != 1 || f.Dport != 2 {
		t.Errorf("cut frame: layers %v l4 %d ports %d>%d", kinds(&f), f.L4, f.Sport, f.Dport)
	}
	// The same Frame, reused for a plain frame, keeps nothing of the last.
	p := newFB(t)
	p.eth(eIPv4).ip4("192.0.2.1", "198.51.100.2", tTCP).tcp(40000, 443).payload(100)
	pf := p.frame()
	if err := Parse(pf, &f); err != nil {
		t.Fatal(err)
	}
	p.check(t, pf, &f)
}

func TestParseRejectsNothingSilently(t *testing.T) {
	// Every Reason a Parse error can have is one of the package's.
	for _, c := range bad {
		if c.err.(*Error).Reason() == "" {
			t.Errorf("%s: empty reason", c.name)
		}
	}
	if Reason(errors.New("x")) != "other" || Reason(nil) != "" {
		t.Error("Reason of foreign or nil error")
	}
}

func TestKind(t *testing.T) {
	names := map[Kind]string{KindVLAN: "vlan", KindMPLS: "mpls", KindPPPoE: "pppoe", KindIPIP: "ipip", KindSIT: "6in4",
		KindIP6IP6: "ip6ip6", KindIP4IP6: "4in6", KindGRE: "gre", KindVXLAN: "vxlan", KindGeneve: "geneve", KindGTPU: "gtpu"}
	tunnels := 0
	for k, n := range names {
		if k.String() != n {
			t.Errorf("%d: %q, want %q", k, k.String(), n)
		}
		if k.Tunnel() {
			tunnels++
		}
		if k.Tunnel() != (k != KindVLAN && k != KindMPLS && k != KindPPPoE) {
			t.Errorf("%v: Tunnel %v", k, k.Tunnel())
		}
	}
	if tunnels != 8 || Kind(0).String() != "unknown" || Kind(200).String() != "unknown" {
		t.Error("kind table")
	}
}
