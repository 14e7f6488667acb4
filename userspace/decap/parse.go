package decap

import (
	"encoding/binary"
	"net/netip"
)

// next is what the parser expects at the current offset.
type next uint8

const (
	atEther next = iota
	atMPLS
	atPPPoE
	atIPv4
	atIPv6
)

// Wire constants.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86DD
	etherTEB    = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
	etherMPLS   = 0x8847
	etherMPLSMC = 0x8848
	etherPPPoE  = 0x8864

	protoIPIP = 4
	protoTCP  = 6
	protoUDP  = 17
	protoIPv6 = 41
	protoGRE  = 47

	portVXLAN  = 4789
	portGeneve = 6081
	portGTPU   = 2152
)

func be16(b []byte) int { return int(binary.BigEndian.Uint16(b)) }

func isVLAN(et int) bool { return et == 0x8100 || et == 0x88A8 || et == 0x9100 }

// Parse fills f with what frame carries, starting at an Ethernet header.
// It returns nil when it reached the innermost TCP or UDP header or a
// fragment (f.Fragment), else one of the Err values saying why the frame
// is not followed; f then holds what was parsed before the error.
func Parse(frame []byte, f *Frame) error {
	return parse(frame, f, -1, nil)
}

// parse is Parse with a stop: when the IP header at offset stop is
// reached, it records the expected IP version in fx and returns
// errReached. fx, when not nil, collects the length fields on the way.
func parse(b []byte, f *Frame, stop int, fx *fixups) error {
	f.reset()
	off := 0
	at := atEther
	tunnels := 0
	// The IP header under the current position, for tunnel layers.
	var ipOff int
	for {
		switch at {
		case atEther:
			if off+14 > len(b) {
				return ErrTruncated
			}
			et := be16(b[off+12:])
			off += 14
			for n := 0; isVLAN(et); n++ {
				if n == MaxVLAN {
					return ErrVLANDepth
				}
				if off+4 > len(b) {
					return ErrTruncated
				}
				if err := f.push(KindVLAN, off-2, 4, uint32(be16(b[off:])&0x0fff), true); err != nil {
					return err
				}
				et = be16(b[off+2:])
				off += 4
			}
			switch et {
			case etherMPLS, etherMPLSMC:
				at = atMPLS
			case etherPPPoE:
				at = atPPPoE
			case etherIPv4:
				at = atIPv4
			case etherIPv6:
				at = atIPv6
			default:
				return ErrNotIP
			}

		case atMPLS:
			start := off
			var top uint32
			for i := 0; ; i++ {
				if i == MaxMPLS {
					return ErrMPLSDepth
				}
				if off+4 > len(b) {
					return ErrTruncated
				}
				e := binary.BigEndian.Uint32(b[off:])
				if i == 0 {
					top = e >> 12
				}
				off += 4
				if e&0x100 != 0 { // bottom of stack
					break
				}
			}
			if off >= len(b) {
				return ErrTruncated
			}
			nib := b[off] >> 4
			if nib == 0 { // pseudowire control word, then Ethernet (EoMPLS)
				if off+4 > len(b) {
					return ErrTruncated
				}
				off += 4
			}
			if err := f.push(KindMPLS, start, off-start, top, true); err != nil {
				return err
			}
			switch nib {
			case 0:
				at = atEther
			case 4:
				at = atIPv4
			case 6:
				at = atIPv6
			default:
				return ErrMPLSPayload
			}

		case atPPPoE:
			if off+8 > len(b) {
				return ErrTruncated
			}
			if b[off] != 0x11 || b[off+1] != 0 {
				return ErrMalformed
			}
			if off+6+be16(b[off+4:]) > len(b) {
				f.Truncated = true
			}
			if err := f.push(KindPPPoE, off, 8, uint32(be16(b[off+2:])), true); err != nil {
				return err
			}
			fx.add(fixPPPoE, off, 0)
			switch be16(b[off+6:]) {
			case 0x0021:
				at = atIPv4
			case 0x0057:
				at = atIPv6
			default:
				return ErrNotIP
			}
			off += 8

		case atIPv4, atIPv6:
			if off == stop {
				fx.version = 4
				if at == atIPv6 {
					fx.version = 6
				}
				return errReached
			}
			var proto, l4, end int
			var err error
			if at == atIPv4 {
				proto, l4, end, err = parseIPv4(b, off, f, fx)
			} else {
				proto, l4, end, err = parseIPv6(b, off, f, fx)
			}
			if err != nil || f.Fragment {
				return err
			}
			ipOff = off
			off = l4
			switch proto {
			case protoTCP:
				return parseTCP(b, off, end, f)
			case protoUDP:
				kind, err := parseUDP(b, off, end, f)
				if err != nil || kind == 0 {
					return err
				}
				if tunnels == MaxTunnels {
					return ErrTunnelDepth
				}
				fx.add(fixUDP, off, ipOff)
				off, at, err = parseUDPTunnel(b, off+8, kind, f, fx, ipOff)
				if err != nil {
					return err
				}
				tunnels++
			case protoIPIP, protoIPv6:
				if tunnels == MaxTunnels {
					return ErrTunnelDepth
				}
				k := KindIPIP
				switch {
				case at == atIPv4 && proto == protoIPv6:
					k = KindSIT
				case at == atIPv6 && proto == protoIPIP:
					k = KindIP4IP6
				case at == atIPv6:
					k = KindIP6IP6
				}
				if err := f.pushTunnel(k, off, 0, 0, false, ipOff); err != nil {
					return err
				}
				tunnels++
				at = atIPv4
				if proto == protoIPv6 {
					at = atIPv6
				}
			case protoGRE:
				if tunnels == MaxTunnels {
					return ErrTunnelDepth
				}
				off, at, err = parseGRE(b, off, f, fx, ipOff)
				if err != nil {
					return err
				}
				tunnels++
			default:
				return ErrNotAnalysed
			}
		}
	}
}

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

// parseUDPTunnel reads the VXLAN, Geneve or GTP-U header at off and
// returns where its payload starts and what it is.
func parseUDPTunnel(b []byte, off int, kind Kind, f *Frame, fx *fixups, ipOff int) (int, next, error) {
	if off+8 > len(b) {
		return 0, 0, ErrTruncated
	}
	var at next
	switch kind {
	case KindVXLAN:
		if b[off]&0x08 == 0 { // the I bit: the VNI is valid
			return 0, 0, ErrMalformed
		}
		if err := f.pushTunnel(kind, off, 8, binary.BigEndian.Uint32(b[off+4:])>>8, true, ipOff); err != nil {
			return 0, 0, err
		}
		return off + 8, atEther, nil

	case KindGeneve:
		if b[off]>>6 != 0 {
			return 0, 0, ErrMalformed
		}
		hl := 8 + int(b[off]&0x3f)*4
		if off+hl > len(b) {
			return 0, 0, ErrTruncated
		}
		if err := f.pushTunnel(kind, off, hl, binary.BigEndian.Uint32(b[off+4:])>>8, true, ipOff); err != nil {
			return 0, 0, err
		}
		switch be16(b[off+2:]) {
		case etherTEB:
			at = atEther
		case etherIPv4:
			at = atIPv4
		case etherIPv6:
			at = atIPv6
		default:
			return 0, 0, ErrNotIP
		}
		return off + hl, at, nil
	}

	// GTP-U
	fl := b[off]
	if fl>>5 != 1 || fl&0x10 == 0 {
		return 0, 0, ErrMalformed
	}
	if off+8+be16(b[off+2:]) > len(b) {
		f.Truncated = true
	}
	hl := 8
	if fl&0x07 != 0 { // E, S or PN: sequence, N-PDU, next extension type
		if off+12 > len(b) {
			return 0, 0, ErrTruncated
		}
		hl = 12
		for nt, n := b[off+11], 0; nt != 0; n++ {
			if n == MaxGTPExt {
				return 0, 0, ErrGTPExtDepth
			}
			if off+hl >= len(b) {
				return 0, 0, ErrTruncated
			}
			el := int(b[off+hl]) * 4
			if el == 0 {
				return 0, 0, ErrMalformed
			}
			if off+hl+el > len(b) {
				return 0, 0, ErrTruncated
			}
			nt = b[off+hl+el-1]
			hl += el
		}
	}
	if err := f.pushTunnel(kind, off, hl, binary.BigEndian.Uint32(b[off+4:]), true, ipOff); err != nil {
		return 0, 0, err
	}
	fx.add(fixGTP, off, 0)
	if b[off+1] != 0xff { // only a G-PDU carries a user packet
		return 0, 0, ErrNotIP
	}
	if off+hl >= len(b) {
		return 0, 0, ErrTruncated
	}
	switch b[off+hl] >> 4 {
	case 4:
		at = atIPv4
	case 6:
		at = atIPv6
	default:
		return 0, 0, ErrNotIP
	}
	return off + hl, at, nil
}

// parseGRE reads the GRE header at off.
func parseGRE(b []byte, off int, f *Frame, fx *fixups, ipOff int) (int, next, error) {
	if off+4 > len(b) {
		return 0, 0, ErrTruncated
	}
	fl := be16(b[off:])
	if fl&0x7 != 0 || fl&0x4000 != 0 {
		return 0, 0, ErrGREVersion
	}
	hl, keyAt := 4, 4
	if fl&0x8000 != 0 {
		hl += 4
		keyAt += 4
	}
	if fl&0x2000 != 0 {
		hl += 4
	}
	if fl&0x1000 != 0 {
		hl += 4
	}
	if off+hl > len(b) {
		return 0, 0, ErrTruncated
	}
	var key uint32
	if fl&0x2000 != 0 {
		key = binary.BigEndian.Uint32(b[off+keyAt:])
	}
	if err := f.pushTunnel(KindGRE, off, hl, key, fl&0x2000 != 0, ipOff); err != nil {
		return 0, 0, err
	}
	if fl&0x8000 != 0 {
		fx.add(fixGRE, off, 0)
	}
	switch be16(b[off+2:]) {
	case etherIPv4:
		return off + hl, atIPv4, nil
	case etherIPv6:
		return off + hl, atIPv6, nil
	case etherTEB:
		return off + hl, atEther, nil
	case etherMPLS:
		return off + hl, atMPLS, nil
	}
	return 0, 0, ErrNotIP
}
