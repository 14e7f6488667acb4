package craft

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Outer tunnel endpoints: the client side's first (TEST-NET-1 and the
// IPv6 documentation prefix).
var (
	outer4 = [2]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	outer6 = [2]netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}
)

// Inner MAC addresses of a bridged frame (EoMPLS, GRE TEB, VXLAN,
// Geneve), distinct from the outer ones.
var (
	innerClientMAC = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x01}
	innerServerMAC = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x02}
)

// innerEthernet frames ip as the bridged frame inside a tunnel. No
// padding: gopacket pads a short frame to 60 bytes, which a tunnel
// carries as it is, but a sensor then sees trailing bytes after the IP
// datagram; the datagram's own length says where it ends either way.
func innerEthernet(ip []byte, up bool) []byte {
	src, dst := innerClientMAC, innerServerMAC
	if !up {
		src, dst = dst, src
	}
	b := make([]byte, 0, 14+len(ip))
	b = append(b, dst...)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint16(b, uint16(etherType(ip)))
	return append(b, ip...)
}

// outerIP carries payload between the tunnel endpoints.
type outerIP struct {
	v6 bool
	id [2]uint16
}

func (o *outerIP) wrap(up bool, proto layers.IPProtocol, payload []byte) ([]byte, error) {
	return buildIP(o.spec(up, proto), payload)
}

func (o *outerIP) spec(up bool, proto layers.IPProtocol) ipSpec {
	i, j := 0, 1
	if !up {
		i, j = 1, 0
	}
	ends := outer4
	if o.v6 {
		ends = outer6
	}
	s := ipSpec{src: ends[i], dst: ends[j], proto: proto, id: o.id[i], df: true}
	o.id[i]++
	return s
}

// udp carries payload in UDP between the tunnel endpoints.
func (o *outerIP) udp(up bool, sport, dport uint16, payload []byte) ([]byte, error) {
	return buildUDP(o.spec(up, 0), sport, dport, payload, CsumGood)
}

// flowPort is a tunnel's UDP source port: Linux picks it from a hash of
// the inner flow, which differs by direction.
func flowPort(up bool, base uint16) uint16 {
	if up {
		return base
	}
	return base + 1
}

func (o *outerIP) frame(ip []byte, up bool) ([]byte, error) {
	return ethernet(ip, etherType(ip), up)
}

func (o *outerIP) outerNames() []string {
	ends := outer4
	if o.v6 {
		ends = outer6
	}
	return []string{ends[0].String(), ends[1].String()}
}

// Encap is one encapsulation: how to frame, what the truth says, and
// whether the inner packets are IPv6.
type Encap struct {
	Name   string
	What   string
	V6     bool // the inner connection runs over IPv6
	Tunnel *Tunnel
	Frame  func() Framer // a fresh framer per case (framers keep counters)
	Ext    []byte        // IPv6 extension chain of the inner packets
	ExtNH  uint8
	MSS    int // 0: 1348, which fits a 1500-byte MTU under every other encapsulation here
}

// vlanFrame tags a frame with tags (outer first); ad makes the outer tag
// an 802.1ad service tag.
func vlanFrame(tags []uint16, ad bool) Framer {
	return func(ip []byte, up bool) ([]byte, error) {
		src, dst := macs(up)
		first := layers.EthernetTypeDot1Q
		if ad {
			first = layers.EthernetTypeQinQ
		}
		ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: first}}
		for i, t := range tags {
			next := layers.EthernetTypeDot1Q
			if i == len(tags)-1 {
				next = etherType(ip)
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: t, Type: next})
		}
		return serialize(append(ls, gopacket.Payload(ip))...)
	}
}

// mplsStack returns the label stack entries (bottom bit on the last).
func mplsStack(labels []uint32) []gopacket.SerializableLayer {
	var ls []gopacket.SerializableLayer
	for i, l := range labels {
		ls = append(ls, &layers.MPLS{Label: l, TTL: 64, StackBottom: i == len(labels)-1})
	}
	return ls
}

func mplsFrame(labels []uint32) Framer {
	return func(ip []byte, up bool) ([]byte, error) {
		src, dst := macs(up)
		ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeMPLSUnicast}}
		ls = append(ls, mplsStack(labels)...)
		return serialize(append(ls, gopacket.Payload(ip))...)
	}
}

// eomplsFrame is Ethernet over MPLS (RFC 4448): the label stack, the
// four-byte control word (first nibble 0, so it cannot be taken for an
// IP header), then the customer's whole Ethernet frame.
func eomplsFrame(labels []uint32) Framer {
	var seq uint16
	return func(ip []byte, up bool) ([]byte, error) {
		src, dst := macs(up)
		ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeMPLSUnicast}}
		ls = append(ls, mplsStack(labels)...)
		seq++
		cw := binary.BigEndian.AppendUint32(nil, uint32(seq)) // flags 0, length 0, sequence
		payload := append(cw, innerEthernet(ip, up)...)
		return serialize(append(ls, gopacket.Payload(payload))...)
	}
}

// pppoeFrame is a PPPoE session frame (RFC 2516): version/type 0x11,
// code 0, the session id, the length of the PPP frame, then the PPP
// protocol field (0x0021 IPv4, 0x0057 IPv6) and the datagram.
func pppoeFrame(session uint16) Framer {
	return func(ip []byte, up bool) ([]byte, error) {
		proto := uint16(0x0021)
		if etherType(ip) == layers.EthernetTypeIPv6 {
			proto = 0x0057
		}
		b := []byte{0x11, 0x00}
		b = binary.BigEndian.AppendUint16(b, session)
		b = binary.BigEndian.AppendUint16(b, uint16(2+len(ip)))
		b = binary.BigEndian.AppendUint16(b, proto)
		b = append(b, ip...)
		return ethernet(b, layers.EthernetTypePPPoESession, up)
	}
}

// greOpts are the optional GRE fields (RFC 2784, RFC 2890).
type greOpts struct {
	key     *uint32
	seq     bool
	csum    bool
	v6      bool   // outer IPv6
	payload string // "ip" (default), "teb" (Ethernet inside), "mpls"
}

func greFrame(o greOpts) Framer {
	out := &outerIP{v6: o.v6}
	var seq [2]uint32
	return func(ip []byte, up bool) ([]byte, error) {
		g := &layers.GRE{Protocol: etherType(ip), ChecksumPresent: o.csum, SeqPresent: o.seq}
		if o.key != nil {
			g.KeyPresent, g.Key = true, *o.key
		}
		inner := ip
		switch o.payload {
		case "teb":
			g.Protocol = layers.EthernetTypeTransparentEthernetBridging
			inner = innerEthernet(ip, up)
		case "mpls":
			g.Protocol = layers.EthernetTypeMPLSUnicast
			b, err := serialize(append(mplsStack([]uint32{3000}), gopacket.Payload(ip))...)
			if err != nil {
				return nil, err
			}
			inner = b
		}
		if o.seq {
			i := 0
			if !up {
				i = 1
			}
			g.Seq = seq[i]
			seq[i]++
		}
		b, err := serialize(g, gopacket.Payload(inner))
		if err != nil {
			return nil, err
		}
		pkt, err := out.wrap(up, layers.IPProtocolGRE, b)
		if err != nil {
			return nil, err
		}
		return out.frame(pkt, up)
	}
}

// ipInIP wraps the datagram in an outer IP header: IPv4 or IPv6 outside,
// protocol 4 (IPv4 inside) or 41 (IPv6 inside).
func ipInIP(outerV6 bool) Framer {
	out := &outerIP{v6: outerV6}
	return func(ip []byte, up bool) ([]byte, error) {
		proto := layers.IPProtocolIPv4
		if etherType(ip) == layers.EthernetTypeIPv6 {
			proto = layers.IPProtocolIPv6
		}
		pkt, err := out.wrap(up, proto, ip)
		if err != nil {
			return nil, err
		}
		return out.frame(pkt, up)
	}
}

func vxlanFrame(vni uint32) Framer {
	out := &outerIP{}
	return func(ip []byte, up bool) ([]byte, error) {
		hdr, err := serialize(&layers.VXLAN{ValidIDFlag: true, VNI: vni})
		if err != nil {
			return nil, err
		}
		pkt, err := out.udp(up, flowPort(up, 51000), 4789, append(hdr, innerEthernet(ip, up)...))
		if err != nil {
			return nil, err
		}
		return out.frame(pkt, up)
	}
}

// geneveFrame is Geneve (RFC 8926) with two options: the header (version
// 0, options length in 4-byte words, protocol 0x6558, VNI), then TLV
// options (class, type, length in 4-byte words), then the inner frame.
// gopacket decodes Geneve but cannot write it.
func geneveFrame(vni uint32) Framer {
	out := &outerIP{}
	opts := []byte{
		0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef, // class 0x0102, type 0x80, 4 bytes
		0xff, 0xff, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, // class 0xffff, type 0x01, 8 bytes
	}
	return func(ip []byte, up bool) ([]byte, error) {
		h := []byte{byte(len(opts) / 4), 0x00, 0x65, 0x58}
		h = binary.BigEndian.AppendUint32(h, vni<<8)
		h = append(h, opts...)
		pkt, err := out.udp(up, flowPort(up, 52000), 6081, append(h, innerEthernet(ip, up)...))
		if err != nil {
			return nil, err
		}
		return out.frame(pkt, up)
	}
}

// gtpuFrame is GTP-U (3GPP TS 29.281) as a 5G user plane carries it:
// version 1, PT 1, E flag with a PDU Session Container extension (TS
// 38.415: PDU type 1 uplink / 0 downlink, QFI 9), G-PDU. The uplink
// (client side, base station to core) and downlink TEIDs differ, as each
// end allocates its own. gopacket writes GTP extensions after the
// payload, so the header is built here.
func gtpuFrame(teidUp, teidDown uint32) Framer {
	out := &outerIP{}
	var seq uint16
	return func(ip []byte, up bool) ([]byte, error) {
		teid, pduType := teidDown, byte(0x00)
		if up {
			teid, pduType = teidUp, 0x10
		}
		seq++
		h := []byte{0x34, 0xff}
		h = binary.BigEndian.AppendUint16(h, uint16(4+4+len(ip))) // after the mandatory 8 bytes
		h = binary.BigEndian.AppendUint32(h, teid)
		h = binary.BigEndian.AppendUint16(h, seq) // present with E set, S clear: not meaningful
		h = append(h, 0x00, 0x85)                 // N-PDU, next extension: PDU Session Container
		h = append(h, 0x01, pduType, 0x09, 0x00)  // length 1 word, PDU type, QFI, no next extension
		pkt, err := out.udp(up, 2152, 2152, append(h, ip...))
		if err != nil {
			return nil, err
		}
		return out.frame(pkt, up)
	}
}

// extChain builds IPv6 extension headers of the given types, each of
// eight bytes: hop-by-hop and destination options hold one PadN option;
// a routing header is of type 0 with no segment left and no address. RFC
// 5095 has a node treat type 0 as an unknown type, and RFC 8200 4.4 has
// it skip a routing header of unknown type with segments left 0; Linux
// does (ipv6_rthdr_rcv). The last header's next header is TCP.
func extChain(types []uint8) (first uint8, b []byte) {
	for i, t := range types {
		next := uint8(layers.IPProtocolTCP)
		if i+1 < len(types) {
			next = types[i+1]
		}
		switch t {
		case 43: // routing
			b = append(b, next, 0, 0, 0, 0, 0, 0, 0)
		default: // 0 hop-by-hop, 60 destination options
			b = append(b, next, 0, 1, 4, 0, 0, 0, 0)
		}
	}
	return types[0], b
}

// Encaps lists the encapsulations every tunnel case wraps its sources in.
func Encaps() []Encap {
	key := uint32(0x1234)
	labels3 := []uint32{100, 200, 300}
	hbhFirst, chain := extChain([]uint8{0, 60, 43, 60, 43, 60, 43, 60, 43, 60, 43, 60})
	tun := func(typ string, id uint32, v6outer bool, layers ...string) *Tunnel {
		o := &outerIP{v6: v6outer}
		return &Tunnel{Type: typ, ID: id, Layers: layers, Outer: o.outerNames()}
	}
	return []Encap{
		{Name: "vlan4", What: "four 802.1Q tags (10, 20, 30, 40)",
			Tunnel: &Tunnel{Layers: []string{"vlan", "vlan", "vlan", "vlan"}, VLANs: []uint16{10, 20, 30, 40}},
			Frame:  func() Framer { return vlanFrame([]uint16{10, 20, 30, 40}, false) }},
		{Name: "qinq", What: "802.1ad service tag 100 over 802.1Q tag 200",
			Tunnel: &Tunnel{Layers: []string{"vlan", "vlan"}, VLANs: []uint16{100, 200}},
			Frame:  func() Framer { return vlanFrame([]uint16{100, 200}, true) }},
		{Name: "mpls3", What: "a stack of three MPLS labels",
			Tunnel: &Tunnel{Layers: []string{"mpls"}, Labels: labels3},
			Frame:  func() Framer { return mplsFrame(labels3) }},
		{Name: "eompls", What: "Ethernet over MPLS (two labels) with the RFC 4448 control word",
			Tunnel: &Tunnel{Layers: []string{"mpls", "ethernet"}, Labels: []uint32{1000, 2000}},
			Frame:  func() Framer { return eomplsFrame([]uint32{1000, 2000}) }},
		{Name: "pppoe", What: "PPPoE session 0x2a (a broadband WAN)",
			Tunnel: &Tunnel{Type: "pppoe", ID: 0x2a, Layers: []string{"pppoe"}},
			Frame:  func() Framer { return pppoeFrame(0x2a) }},
		{Name: "gre", What: "GRE without options over IPv4",
			Tunnel: tun("gre", 0, false, "gre"), Frame: func() Framer { return greFrame(greOpts{}) }},
		{Name: "gre_key", What: "GRE with key 0x1234",
			Tunnel: tun("gre", key, false, "gre"), Frame: func() Framer { return greFrame(greOpts{key: &key}) }},
		{Name: "gre_seq", What: "GRE with sequence numbers",
			Tunnel: tun("gre", 0, false, "gre"), Frame: func() Framer { return greFrame(greOpts{seq: true}) }},
		{Name: "gre_csum", What: "GRE with checksum (and key 0x1234)",
			Tunnel: tun("gre", key, false, "gre"), Frame: func() Framer { return greFrame(greOpts{csum: true, key: &key}) }},
		{Name: "gre_ip6", What: "GRE over IPv4 carrying IPv6", V6: true,
			Tunnel: tun("gre", 0, false, "gre"), Frame: func() Framer { return greFrame(greOpts{}) }},
		{Name: "gre6", What: "GRE over IPv6",
			Tunnel: tun("gre", 0, true, "gre"), Frame: func() Framer { return greFrame(greOpts{v6: true}) }},
		{Name: "gre_teb", What: "GRE carrying Ethernet (transparent bridging, gretap)",
			Tunnel: tun("gre", key, false, "gre", "ethernet"), Frame: func() Framer { return greFrame(greOpts{key: &key, payload: "teb"}) }},
		{Name: "gre_mpls", What: "GRE carrying MPLS (label 3000)",
			Tunnel: &Tunnel{Type: "gre", Layers: []string{"gre", "mpls"}, Outer: (&outerIP{}).outerNames(), Labels: []uint32{3000}},
			Frame:  func() Framer { return greFrame(greOpts{payload: "mpls"}) }},
		{Name: "ipip", What: "IPv4 in IPv4",
			Tunnel: tun("ipip", 0, false, "ipip"), Frame: func() Framer { return ipInIP(false) }},
		{Name: "6in4", What: "IPv6 in IPv4 (protocol 41)", V6: true,
			Tunnel: tun("6in4", 0, false, "6in4"), Frame: func() Framer { return ipInIP(false) }},
		{Name: "ip6ip6", What: "IPv6 in IPv6", V6: true,
			Tunnel: tun("ip6ip6", 0, true, "ip6ip6"), Frame: func() Framer { return ipInIP(true) }},
		{Name: "4in6", What: "IPv4 in IPv6",
			Tunnel: tun("4in6", 0, true, "4in6"), Frame: func() Framer { return ipInIP(true) }},
		{Name: "vxlan", What: "VXLAN VNI 42 over IPv4",
			Tunnel: tun("vxlan", 42, false, "vxlan", "ethernet"), Frame: func() Framer { return vxlanFrame(42) }},
		{Name: "geneve", What: "Geneve VNI 4242 with two options",
			Tunnel: tun("geneve", 4242, false, "geneve", "ethernet"), Frame: func() Framer { return geneveFrame(4242) }},
		{Name: "gtpu", What: "GTP-U with a PDU session container; uplink TEID 0x1001, downlink 0x2002",
			Tunnel: func() *Tunnel { t := tun("gtpu", 0x1001, false, "gtpu"); t.ReverseID = 0x2002; return t }(),
			Frame:  func() Framer { return gtpuFrame(0x1001, 0x2002) }},
		{Name: "ipv6_extchain", What: "IPv6 with twelve extension headers (hop-by-hop, destination options, routing)", V6: true,
			Frame: func() Framer { return PlainEthernet }, Ext: chain, ExtNH: hbhFirst, MSS: 1248},
	}
}
