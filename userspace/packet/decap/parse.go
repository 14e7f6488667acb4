package decap

import (
	"encoding/binary"
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
