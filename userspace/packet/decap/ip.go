package decap

import (
	"encoding/binary"
	"net/netip"
)

// parseIPv4 reads the IPv4 header at off into f. It returns the
// protocol, the offset of the L4 header and the packet's end per its
// total length. A fragment fills f.Frag and sets f.Fragment.
func parseIPv4(b []byte, off int, f *Frame, fx *fixups) (proto, l4, end int, err error) {
	if off+20 > len(b) {
		return 0, 0, 0, ErrTruncated
	}
	if b[off]>>4 != 4 {
		return 0, 0, 0, ErrMalformed
	}
	ihl := int(b[off]&0x0f) * 4
	if ihl < 20 {
		return 0, 0, 0, ErrMalformed
	}
	if off+ihl > len(b) {
		return 0, 0, 0, ErrTruncated
	}
	tot := be16(b[off+2:])
	if tot < ihl {
		return 0, 0, 0, ErrMalformed
	}
	end = off + tot
	if end > len(b) {
		f.Truncated = true
	}
	f.L3, f.L3End, f.Family = off, end, 4
	f.Src = netip.AddrFrom4([4]byte(b[off+12 : off+16]))
	f.Dst = netip.AddrFrom4([4]byte(b[off+16 : off+20]))
	proto = int(b[off+9])
	f.Proto = uint8(proto)
	f.clearL4()
	fx.add(fixIPv4, off, 0)
	l4 = off + ihl
	if fo := be16(b[off+6:]); fo&0x3fff != 0 { // MF or an offset
		f.Fragment = true
		f.Frag = FragInfo{
			ID:      uint32(be16(b[off+4:])),
			Offset:  (fo & 0x1fff) * 8,
			More:    fo&0x2000 != 0,
			DataOff: l4,
			DataLen: tot - ihl,
		}
		if f.Frag.Offset == 0 {
			firstFragL4(b, l4, end, f)
		}
	}
	return proto, l4, end, nil
}

// ipv6Ext returns the length of the extension header of type nh whose
// first two bytes are h, or 0 when nh is not an extension header.
func ipv6Ext(nh int, h []byte) int {
	switch nh {
	case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
		return (int(h[1]) + 1) * 8
	case 51: // AH
		return (int(h[1]) + 2) * 4
	case 44: // fragment
		return 8
	}
	return 0
}

func isIPv6Ext(nh int) bool {
	switch nh {
	case 0, 43, 60, 135, 139, 140, 51, 44:
		return true
	}
	return false
}

// parseIPv6 is parseIPv4 for IPv6: it follows the extension chain.
func parseIPv6(b []byte, off int, f *Frame, fx *fixups) (proto, l4, end int, err error) {
	if off+40 > len(b) {
		return 0, 0, 0, ErrTruncated
	}
	if b[off]>>4 != 6 {
		return 0, 0, 0, ErrMalformed
	}
	end = off + 40 + be16(b[off+4:])
	if end > len(b) {
		f.Truncated = true
	}
	f.L3, f.L3End, f.Family = off, end, 6
	f.Src = netip.AddrFrom16([16]byte(b[off+8 : off+24]))
	f.Dst = netip.AddrFrom16([16]byte(b[off+24 : off+40]))
	f.clearL4()
	fx.add(fixIPv6, off, 0)
	nh := int(b[off+6])
	p := off + 40
	for n := 0; isIPv6Ext(nh); n++ {
		f.Proto = uint8(nh)
		if n == MaxIPv6Ext {
			return 0, 0, 0, ErrIPv6ExtDepth
		}
		if p+2 > len(b) {
			return 0, 0, 0, ErrTruncated
		}
		hl := ipv6Ext(nh, b[p:])
		if p+hl > len(b) {
			return 0, 0, 0, ErrTruncated
		}
		if fo := be16(b[p+2:]); nh == 44 && fo&0xfff9 != 0 { // an offset or M: not atomic
			f.Proto = b[p]
			if p+8 > end {
				return 0, 0, 0, ErrMalformed
			}
			f.Fragment = true
			f.Frag = FragInfo{
				ID:      binary.BigEndian.Uint32(b[p+4:]),
				Offset:  fo & 0xfff8,
				More:    fo&1 != 0,
				HdrOff:  p,
				DataOff: p + 8,
				DataLen: end - (p + 8),
			}
			if f.Frag.Offset == 0 {
				firstFragL4(b, p+8, end, f)
			}
			return int(b[p]), p + 8, end, nil
		}
		nh = int(b[p])
		p += hl
	}
	f.Proto = uint8(nh)
	return nh, p, end, nil
}

// firstFragL4 sets what a first fragment shows of its L4 header: where it
// starts, the ports when they are there, the payload when the whole
// header is.
func firstFragL4(b []byte, l4, end int, f *Frame) {
	f.L4 = l4
	lim := min(end, len(b))
	if (f.Proto != protoTCP && f.Proto != protoUDP) || l4+4 > lim {
		return
	}
	f.Sport, f.Dport = uint16(be16(b[l4:])), uint16(be16(b[l4+2:]))
	hl := 8
	if f.Proto == protoTCP {
		if l4+13 > lim {
			return
		}
		hl = int(b[l4+12]>>4) * 4
		if hl < 20 {
			return
		}
	}
	if l4+hl <= lim {
		f.Payload = l4 + hl
		f.PayloadLen = end - f.Payload
	}
}

// parseTCP reads the innermost TCP header at off; end is its IP packet's
// end per the IP header.
func parseTCP(b []byte, off, end int, f *Frame) error {
	if off+20 > end {
		return ErrMalformed
	}
	if off+20 > len(b) {
		return ErrTruncated
	}
	f.L4 = off
	f.Sport, f.Dport = uint16(be16(b[off:])), uint16(be16(b[off+2:]))
	doff := int(b[off+12]>>4) * 4
	if doff < 20 || off+doff > end {
		return ErrMalformed
	}
	if off+doff > len(b) {
		return ErrTruncated
	}
	f.Payload = off + doff
	f.PayloadLen = end - f.Payload
	return nil
}

// parseUDP reads a UDP header at off and returns the tunnel kind its
// ports announce, 0 for none.
func parseUDP(b []byte, off, end int, f *Frame) (Kind, error) {
	if off+8 > end {
		return 0, ErrMalformed
	}
	if off+8 > len(b) {
		return 0, ErrTruncated
	}
	f.L4 = off
	sp, dp := be16(b[off:]), be16(b[off+2:])
	f.Sport, f.Dport = uint16(sp), uint16(dp)
	if off+be16(b[off+4:]) > len(b) {
		f.Truncated = true
	}
	f.Payload = off + 8
	f.PayloadLen = end - f.Payload
	switch {
	case dp == portVXLAN:
		return KindVXLAN, nil
	case dp == portGeneve:
		return KindGeneve, nil
	case dp == portGTPU || sp == portGTPU:
		return KindGTPU, nil
	}
	return 0, nil
}
