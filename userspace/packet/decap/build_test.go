package decap

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The frame builder: layers from gopacket where it has them (serialized
// with lengths and checksums fixed), hand-made bytes otherwise, and the
// expected parse computed from the header sizes the test states, not
// from the parser.

type wantLayer struct {
	kind               Kind
	off, len           int
	id                 uint32
	hasID              bool
	outer              int // OuterL3; -1 for link layers
	outerSrc, outerDst netip.Addr
}

type want struct {
	layers       []wantLayer
	l3, family   int
	src, dst     netip.Addr
	proto        uint8
	l4, payload  int
	sport, dport uint16
	fragment     bool
	frag         FragInfo
}

type fb struct {
	t    testing.TB
	ls   []gopacket.SerializableLayer
	off  int
	net  gopacket.NetworkLayer // the last IP layer, for TCP/UDP checksums
	ip   int                   // its offset
	w    want
	gtps []gtpLen
	// hand-made headers whose length field covers the rest of the frame
}

type gtpLen struct {
	hdr []byte // the GTP-U header bytes (patched before serializing)
	g   *layers.GTPv1U
	off int
}

func newFB(t testing.TB) *fb { return &fb{t: t, ip: -1} }

func (b *fb) put(l gopacket.SerializableLayer, size int) int {
	o := b.off
	b.ls = append(b.ls, l)
	b.off += size
	return o
}

func (b *fb) link(k Kind, off, n int, id uint32) {
	b.w.layers = append(b.w.layers, wantLayer{kind: k, off: off, len: n, id: id, hasID: true, outer: -1})
}

func (b *fb) tunnel(k Kind, off, n int, id uint32, hasID bool) {
	b.w.layers = append(b.w.layers, wantLayer{kind: k, off: off, len: n, id: id, hasID: hasID,
		outer: b.ip, outerSrc: b.w.src, outerDst: b.w.dst})
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func (b *fb) eth(next uint16) *fb {
	b.put(&layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetType(next)}, 14)
	return b
}

// vlan adds a tag; its TPID is the previous header's type field.
func (b *fb) vlan(id uint16, next uint16) *fb {
	o := b.put(&layers.Dot1Q{Priority: 3, VLANIdentifier: id, Type: layers.EthernetType(next)}, 4)
	b.link(KindVLAN, o-2, 4, uint32(id))
	return b
}

// mpls adds a label stack, and the pseudowire control word if cw.
func (b *fb) mpls(cw bool, labels ...uint32) *fb {
	start := b.off
	for i, l := range labels {
		b.put(&layers.MPLS{Label: l, TTL: 64, StackBottom: i == len(labels)-1}, 4)
	}
	if cw {
		b.put(gopacket.Payload{0, 0, 0, 0}, 4)
	}
	b.link(KindMPLS, start, b.off-start, labels[0])
	return b
}

func (b *fb) pppoe(session, ppp uint16) *fb {
	o := b.put(&layers.PPPoE{Version: 1, Type: 1, Code: layers.PPPoECodeSession, SessionId: session}, 6)
	b.put(&layers.PPP{PPPType: layers.PPPType(ppp)}, 2)
	b.link(KindPPPoE, o, 8, uint32(session))
	return b
}

func (b *fb) ip4(src, dst string, proto uint8) *fb { return b.ip4opt(src, dst, proto, 0) }

// ip4opt adds an IPv4 header with optWords 4-byte words of options.
func (b *fb) ip4opt(src, dst string, proto uint8, optWords int) *fb {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	l := &layers.IPv4{Version: 4, TTL: 64, Id: 0x4242, Protocol: layers.IPProtocol(proto), SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	if optWords > 0 {
		l.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
		for range optWords - 1 {
			l.Options = append(l.Options, layers.IPv4Option{OptionType: 0x01, OptionLength: 1}, layers.IPv4Option{OptionType: 0x01, OptionLength: 1},
				layers.IPv4Option{OptionType: 0x01, OptionLength: 1}, layers.IPv4Option{OptionType: 0x01, OptionLength: 1})
		}
	}
	o := b.put(l, 20+4*optWords)
	b.net, b.ip = l, o
	b.w.l3, b.w.family, b.w.src, b.w.dst, b.w.proto = o, 4, s, d, proto
	return b
}

func (b *fb) ip6(src, dst string, nh uint8) *fb {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	l := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocol(nh), SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	o := b.put(l, 40)
	b.net, b.ip = l, o
	b.w.l3, b.w.family, b.w.src, b.w.dst, b.w.proto = o, 6, s, d, nh
	return b
}

// ext6 adds an IPv6 extension header of type typ (for the length rule)
// announcing next, with room for units of its length unit.
func (b *fb) ext6(typ, next uint8, units int) *fb {
	var h []byte
	switch typ {
	case 51:
		h = make([]byte, (units+2)*4)
		h[1] = byte(units)
	case 44:
		h = make([]byte, 8)
	default:
		h = make([]byte, (units+1)*8)
		h[1] = byte(units)
		if typ == 0 || typ == 60 {
			h[2] = 1 // PadN over the rest
			h[3] = byte(len(h) - 4)
		}
	}
	h[0] = next
	b.put(gopacket.Payload(h), len(h))
	if !b.w.fragment {
		b.w.proto = next
	}
	return b
}

// frag6 adds an IPv6 fragment header.
func (b *fb) frag6(next uint8, offset int, more bool, id uint32) *fb {
	h := make([]byte, 8)
	h[0] = next
	fo := uint16(offset)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(h[2:], fo)
	binary.BigEndian.PutUint32(h[4:], id)
	o := b.put(gopacket.Payload(h), 8)
	b.w.proto = next
	if offset != 0 || more {
		b.w.fragment = true
		b.w.frag = FragInfo{ID: id, Offset: offset, More: more, HdrOff: o, DataOff: o + 8}
	}
	return b
}

func (b *fb) gre(proto uint16, key *uint32, csum, seq bool) *fb {
	g := &layers.GRE{Protocol: layers.EthernetType(proto), ChecksumPresent: csum, SeqPresent: seq, Seq: 77}
	n := 4
	if csum {
		n += 4
	}
	if key != nil {
		g.KeyPresent, g.Key = true, *key
		n += 4
	}
	if seq {
		n += 4
	}
	o := b.put(g, n)
	var id uint32
	if key != nil {
		id = *key
	}
	b.tunnel(KindGRE, o, n, id, key != nil)
	return b
}

// ipip announces an IP-in-IP tunnel whose inner header comes next.
func (b *fb) ipip(k Kind) *fb {
	b.tunnel(k, b.off, 0, 0, false)
	return b
}

func (b *fb) udp(sport, dport uint16) *fb {
	l := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if b.net != nil {
		_ = l.SetNetworkLayerForChecksum(b.net)
	}
	o := b.put(l, 8)
	b.w.l4, b.w.payload, b.w.sport, b.w.dport = o, o+8, sport, dport
	return b
}

func (b *fb) tcp(sport, dport uint16) *fb {
	l := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 1024}
	if b.net != nil {
		_ = l.SetNetworkLayerForChecksum(b.net)
	}
	o := b.put(l, 20)
	b.w.l4, b.w.payload, b.w.sport, b.w.dport = o, o+20, sport, dport
	return b
}

func (b *fb) vxlan(vni uint32) *fb {
	o := b.put(&layers.VXLAN{ValidIDFlag: true, VNI: vni}, 8)
	b.tunnel(KindVXLAN, o, 8, vni, true)
	return b
}

// geneve adds a Geneve header with optWords words of options.
func (b *fb) geneve(vni uint32, proto uint16, optWords int) *fb {
	h := make([]byte, 8+4*optWords)
	h[0] = byte(optWords)
	binary.BigEndian.PutUint16(h[2:], proto)
	binary.BigEndian.PutUint32(h[4:], vni<<8)
	for i := 8; i+4 <= len(h); i += 4 { // option class 0x0101, type 1, length 0
		h[i], h[i+1], h[i+2] = 1, 1, 1
	}
	o := b.put(gopacket.Payload(h), len(h))
	b.tunnel(KindGeneve, o, len(h), vni, true)
	return b
}

// gtp adds a GTP-U G-PDU header; each ext is the content of one
// extension header (a multiple of 4 bytes minus 2). Without extensions
// it is gopacket's layer, with them hand-made (gopacket appends the
// optional fields after the payload).
func (b *fb) gtp(teid uint32, exts ...[]byte) *fb {
	if len(exts) == 0 {
		g := &layers.GTPv1U{Version: 1, ProtocolType: 1, MessageType: 0xff, TEID: teid}
		o := b.put(g, 8)
		b.gtps = append(b.gtps, gtpLen{g: g, off: o})
		b.tunnel(KindGTPU, o, 8, teid, true)
		return b
	}
	h := []byte{0x34, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x85}
	binary.BigEndian.PutUint32(h[4:], teid)
	for i, e := range exts {
		if (len(e)+2)%4 != 0 {
			b.t.Fatalf("GTP extension of %d bytes", len(e))
		}
		h = append(h, byte((len(e)+2)/4))
		h = append(h, e...)
		if i == len(exts)-1 {
			h = append(h, 0)
		} else {
			h = append(h, 0x85)
		}
	}
	o := b.put(gopacket.Payload(h), len(h))
	b.gtps = append(b.gtps, gtpLen{hdr: h, off: o})
	b.tunnel(KindGTPU, o, len(h), teid, true)
	return b
}

func (b *fb) payload(n int) *fb {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	b.put(gopacket.Payload(p), n)
	return b
}

// frame serializes the layers; the GTP-U lengths are set first.
func (b *fb) frame() []byte {
	b.t.Helper()
	for _, g := range b.gtps {
		n := b.off - g.off - 8
		if g.g != nil {
			g.g.MessageLength = uint16(n)
		} else {
			binary.BigEndian.PutUint16(g.hdr[2:], uint16(n))
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, b.ls...); err != nil {
		b.t.Fatal(err)
	}
	out := buf.Bytes()
	if len(out) < b.off {
		b.t.Fatalf("built %d bytes, want at least %d", len(out), b.off)
	}
	return append([]byte(nil), out...)
}

// check compares a parse with the builder's expectation.
func (b *fb) check(t *testing.T, frame []byte, f *Frame) {
	t.Helper()
	w := b.w
	if f.N != len(w.layers) {
		t.Fatalf("%d layers %v, want %d", f.N, kinds(f), len(w.layers))
	}
	for i, wl := range w.layers {
		l := f.Layers[i]
		if l.Kind != wl.kind || l.Off != wl.off || l.Len != wl.len || l.ID != wl.id || l.HasID != wl.hasID {
			t.Errorf("layer %d: %v off %d len %d id %d/%v, want %v off %d len %d id %d/%v",
				i, l.Kind, l.Off, l.Len, l.ID, l.HasID, wl.kind, wl.off, wl.len, wl.id, wl.hasID)
		}
		if wl.outer >= 0 && (l.OuterL3 != wl.outer || l.OuterSrc != wl.outerSrc || l.OuterDst != wl.outerDst) {
			t.Errorf("layer %d: outer %d %v>%v, want %d %v>%v", i, l.OuterL3, l.OuterSrc, l.OuterDst, wl.outer, wl.outerSrc, wl.outerDst)
		}
	}
	if f.L3 != w.l3 || int(f.Family) != w.family || f.Src != w.src || f.Dst != w.dst || f.Proto != w.proto {
		t.Errorf("l3 %d v%d %v>%v proto %d, want %d v%d %v>%v proto %d",
			f.L3, f.Family, f.Src, f.Dst, f.Proto, w.l3, w.family, w.src, w.dst, w.proto)
	}
	if f.Fragment != w.fragment {
		t.Fatalf("fragment %v, want %v", f.Fragment, w.fragment)
	}
	if w.fragment {
		wf := w.frag
		wf.DataLen = b.off - wf.DataOff
		if f.Frag != wf {
			t.Errorf("frag %+v, want %+v", f.Frag, wf)
		}
		return
	}
	if f.L4 != w.l4 || f.Payload != w.payload || f.Sport != w.sport || f.Dport != w.dport {
		t.Errorf("l4 %d payload %d ports %d>%d, want %d %d %d>%d", f.L4, f.Payload, f.Sport, f.Dport, w.l4, w.payload, w.sport, w.dport)
	}
	if f.L3End != b.off || f.PayloadLen != b.off-w.payload {
		t.Errorf("l3 end %d payload len %d, want %d %d", f.L3End, f.PayloadLen, b.off, b.off-w.payload)
	}
	if f.Truncated {
		t.Error("whole frame marked truncated")
	}
}

func kinds(f *Frame) []string {
	var s []string
	for _, l := range f.Stack() {
		s = append(s, l.Kind.String())
	}
	return s
}
