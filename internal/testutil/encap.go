package testutil

import (
	"encoding/binary"
	"net/netip"
)

// An Encap wraps an inner frame's IP packet in layers, outermost first:
// the result is an Ethernet frame. Lengths and IPv4 header checksums are
// set; UDP checksums are 0 (over IPv6 too: the data plane does not check
// outer ones).
type Encap struct {
	VLANs  []uint16 // tags on the outer Ethernet header (802.1ad first when more than one)
	Layers []Layer  // from the outside in
}

// Layer is one encapsulation layer.
type Layer struct {
	Kind string // "mpls", "pppoe", "gre", "ipip", "vxlan", "geneve", "gtpu", "eth"
	// IP tunnels (gre, ipip, vxlan, geneve, gtpu): the outer addresses.
	Src, Dst string
	ID       uint32 // label, session, key, VNI, TEID
	// GRE: which optional fields; Geneve: option bytes; GTP-U: extension
	// headers (each a multiple of 4 bytes, length byte first, next type last).
	GREKey, GRESeq, GRECsum bool
	Options                 []byte
	GTPExt                  [][]byte
	Labels                  int // MPLS: how many labels (ID on each)
	ControlWord             bool
	VLANs                   []uint16 // "eth": tags on this inner Ethernet header
}

// Wrap returns the frame: inner is an IP packet (IPv4 or IPv6).
func (e Encap) Wrap(inner []byte) []byte {
	return ethFrame(e.VLANs, e.wrap(0, inner))
}

// wrap builds layers[i:] around inner and returns an "EtherType+payload"
// pair encoded as [2]type + payload, so the caller knows what it holds.
func (e Encap) wrap(i int, inner []byte) []byte {
	if i == len(e.Layers) {
		return withType(ipType(inner), inner)
	}
	l := e.Layers[i]
	in := e.wrap(i+1, inner) // type + payload of what this layer carries
	typ, body := binary.BigEndian.Uint16(in), in[2:]
	switch l.Kind {
	case "mpls":
		var out []byte
		n := max(l.Labels, 1)
		for k := 0; k < n; k++ {
			v := l.ID<<12 | 64
			if k == n-1 {
				v |= 1 << 8
			}
			out = binary.BigEndian.AppendUint32(out, v)
		}
		if l.ControlWord {
			out = append(out, 0, 0, 0, 0)
			body = ethFrame(nil, in) // a pseudowire carries Ethernet
		}
		return withType(0x8847, append(out, body...))
	case "pppoe":
		h := []byte{0x11, 0, byte(l.ID >> 8), byte(l.ID), 0, 0, 0, 0}
		binary.BigEndian.PutUint16(h[4:], uint16(len(body)+2))
		p := uint16(0x0021)
		if typ == 0x86dd {
			p = 0x0057
		}
		binary.BigEndian.PutUint16(h[6:], p)
		return withType(0x8864, append(h, body...))
	case "eth":
		return withType(0x6558, ethFrame(l.VLANs, in))
	case "gre":
		flags := uint16(0)
		var opt []byte
		if l.GRECsum {
			flags |= 0x8000
			opt = append(opt, 0, 0, 0, 0)
		}
		if l.GREKey {
			flags |= 0x2000
			opt = binary.BigEndian.AppendUint32(opt, l.ID)
		}
		if l.GRESeq {
			flags |= 0x1000
			opt = binary.BigEndian.AppendUint32(opt, 1)
		}
		h := binary.BigEndian.AppendUint16(nil, flags)
		h = binary.BigEndian.AppendUint16(h, typ)
		return outerIP(l.Src, l.Dst, 47, append(append(h, opt...), body...))
	case "ipip":
		proto := uint8(4)
		if typ == 0x86dd {
			proto = 41
		}
		return outerIP(l.Src, l.Dst, proto, body)
	case "vxlan":
		h := []byte{0x08, 0, 0, 0, byte(l.ID >> 16), byte(l.ID >> 8), byte(l.ID), 0}
		return outerIP(l.Src, l.Dst, 17, udp(40000, 4789, append(h, ethFrame(nil, in)...)))
	case "geneve":
		h := []byte{byte(len(l.Options) / 4), 0, 0, 0, byte(l.ID >> 16), byte(l.ID >> 8), byte(l.ID), 0}
		binary.BigEndian.PutUint16(h[2:], typ)
		return outerIP(l.Src, l.Dst, 17, udp(40001, 6081, append(append(h, l.Options...), body...)))
	case "gtpu":
		h := []byte{0x30, 0xff, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(h[4:], l.ID)
		if len(l.GTPExt) > 0 {
			h[0] |= 0x04
			h = append(h, 0, 0, 0, l.GTPExt[0][len(l.GTPExt[0])-1])
			h[len(h)-1] = 0x85 // the type of the first extension
			for _, x := range l.GTPExt {
				h = append(h, x...)
			}
		}
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)-8+len(body)))
		return outerIP(l.Src, l.Dst, 17, udp(2152, 2152, append(h, body...)))
	}
	panic("unknown layer " + l.Kind)
}

func withType(t uint16, b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, t), b...) }

func ipType(p []byte) uint16 {
	if p[0]>>4 == 6 {
		return 0x86dd
	}
	return 0x0800
}

// ethFrame puts an Ethernet header (and VLAN tags) before a type+payload.
func ethFrame(vlans []uint16, in []byte) []byte {
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
	for i, v := range vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(vlans) > 1 {
			tpid = 0x88a8
		}
		f = binary.BigEndian.AppendUint16(f, tpid)
		f = binary.BigEndian.AppendUint16(f, v)
	}
	return append(f, in...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// outerIP builds an IP header for proto around payload; the result is a
// type+payload pair.
func outerIP(src, dst string, proto uint8, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, proto
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		a, b := s.As4(), d.As4()
		copy(h[12:], a[:])
		copy(h[16:], b[:])
		binary.BigEndian.PutUint16(h[10:], ipv4Checksum(h))
		return withType(0x0800, append(h, payload...))
	}
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, proto, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	a, b := s.As16(), d.As16()
	copy(h[8:], a[:])
	copy(h[24:], b[:])
	return withType(0x86dd, append(h, payload...))
}

// Reverse swaps the outer addresses of every IP layer: the same tunnel,
// the other way.
func (e Encap) Reverse() Encap {
	r := Encap{VLANs: e.VLANs}
	for _, l := range e.Layers {
		l.Src, l.Dst = l.Dst, l.Src
		r.Layers = append(r.Layers, l)
	}
	return r
}
