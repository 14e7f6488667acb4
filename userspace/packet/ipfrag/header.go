package ipfrag

import (
	"encoding/binary"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

// key identifies a datagram. proto is the IPv4 protocol and 0 for IPv6.
type key struct {
	src, dst [16]byte
	id, zone uint32
	proto    uint8
	family   uint8
}

// frag is one fragment as Add reads it.
type frag struct {
	key
	off, end int    // where its data goes in the datagram (end before trimming)
	more     bool   // MF / M
	data     []byte // its data
	hdr      []byte // the header a first fragment gives the datagram
	nhOff    int    // IPv6: offset in hdr of the next-header byte to rewrite
	fragNH   uint8  // IPv6: next header of the fragment header
	proto    uint8  // the protocol it carries
	ecn      uint8  // 1 << its ECN codepoint
	df       bool   // IPv4 DF
}

// maxIPv6Ext bounds the extension headers walked to find the fragment
// header, as the capture side bounds them.
const maxIPv6Ext = 32

func be16(b []byte) int { return int(binary.BigEndian.Uint16(b)) }

// parse reads pkt, an IPv4 or IPv6 fragment from its IP header, into fr.
// It reports false for anything the host would not take as a fragment:
// a bad header, a bad IPv4 header checksum, a packet shorter than its
// length field, a jumbogram, a packet that is not a fragment.
func (fr *frag) parse(pkt []byte, zone uint32) bool {
	if len(pkt) < 1 {
		return false
	}
	fr.zone = zone
	switch pkt[0] >> 4 {
	case 4:
		return fr.parse4(pkt)
	case 6:
		return fr.parse6(pkt)
	}
	return false
}

func (fr *frag) parse4(pkt []byte) bool {
	if len(pkt) < 20 {
		return false
	}
	ihl := int(pkt[0]&0x0f) * 4
	tot := be16(pkt[2:])
	if ihl < 20 || tot < ihl || len(pkt) < tot || !csum.IPv4HeaderValid(pkt[:ihl]) {
		return false
	}
	pkt = pkt[:tot] // bytes past the total length (link padding) are not the packet's
	fo := be16(pkt[6:])
	if fo&0x3fff == 0 {
		return false // not a fragment
	}
	fr.family, fr.proto = 4, pkt[9]
	fr.key.proto = pkt[9]
	fr.src, fr.dst = [16]byte{}, [16]byte{}
	copy(fr.src[:], pkt[12:16])
	copy(fr.dst[:], pkt[16:20])
	fr.id = uint32(be16(pkt[4:]))
	fr.off = (fo & 0x1fff) * 8
	fr.more = fo&0x2000 != 0
	fr.df = fo&0x4000 != 0
	fr.data = pkt[ihl:]
	fr.end = fr.off + len(fr.data)
	fr.hdr = pkt[:ihl]
	fr.ecn = 1 << (pkt[1] & 3)
	return true
}

func (fr *frag) parse6(pkt []byte) bool {
	if len(pkt) < 40 {
		return false
	}
	plen := be16(pkt[4:])
	if plen == 0 || len(pkt) < 40+plen {
		return false // a jumbogram has no fragment header (RFC 2675); a cut packet is dropped
	}
	pkt = pkt[:40+plen]
	nh, p, nhOff := int(pkt[6]), 40, 6
	for n := 0; nh != 44; n++ {
		var hl int
		switch nh {
		case 0, 43, 60, 135, 139, 140:
			if p+2 > len(pkt) {
				return false
			}
			hl = (int(pkt[p+1]) + 1) * 8
		case 51:
			if p+2 > len(pkt) {
				return false
			}
			hl = (int(pkt[p+1]) + 2) * 4
		default:
			return false // no fragment header
		}
		if n == maxIPv6Ext {
			return false
		}
		nh, nhOff = int(pkt[p]), p
		p += hl
	}
	if p+8 > len(pkt) {
		return false
	}
	fo := be16(pkt[p+2:])
	if fo&0xfff9 == 0 {
		return false // atomic fragment: a whole packet
	}
	fr.family, fr.key.proto = 6, 0
	fr.proto, fr.fragNH = pkt[p], pkt[p]
	copy(fr.src[:], pkt[8:24])
	copy(fr.dst[:], pkt[24:40])
	fr.id = binary.BigEndian.Uint32(pkt[p+4:])
	fr.off = fo & 0xfff8
	fr.more = fo&1 != 0
	fr.df = false
	fr.data = pkt[p+8:]
	fr.end = fr.off + len(fr.data)
	fr.hdr = pkt[:p]
	fr.nhOff = nhOff
	fr.ecn = 1 << ((pkt[1] >> 4) & 3)
	return true
}

// tiny reports a first fragment too short for its whole TCP header
// (RFC 1858), for IPv4 and IPv6 alike.
func (fr *frag) tiny() bool {
	if fr.off != 0 || fr.proto != 6 {
		return false
	}
	d := fr.data
	return len(d) < 20 || int(d[12]>>4)*4 > len(d)
}

// headersCut is Linux's check of an IPv6 first fragment (RFC 8200 4.5,
// ipv6frag_thdr_truncated): walking the extension headers as
// ipv6_skip_exthdr does, the upper-layer header must be in the packet
// (TCP 20 bytes, UDP 8, ICMPv6 8, anything else 1). A chain that cannot
// be walked is not judged.
func headersCut(pkt []byte) bool {
	pkt = pkt[:40+be16(pkt[4:])]
	nh, p := int(pkt[6]), 40
	for {
		var hl int
		switch nh {
		case 59: // no next header
			return false
		case 0, 43, 60:
			if p+2 > len(pkt) {
				return false
			}
			hl = (int(pkt[p+1]) + 1) * 8
		case 51:
			if p+2 > len(pkt) {
				return false
			}
			hl = (int(pkt[p+1]) + 2) * 4
		case 44:
			if p+4 > len(pkt) {
				return false
			}
			if be16(pkt[p+2:])&^7 != 0 {
				return false // not a first fragment
			}
			hl = 8
		default:
			switch nh {
			case 6:
				p += 20
			case 17, 58:
				p += 8
			default:
				p++
			}
			return p > len(pkt)
		}
		nh = int(pkt[p])
		p += hl
	}
}
