// Package csum computes the Internet checksum (RFC 1071) over packet bytes
// and judges the IPv4 header and TCP/UDP checksums of captured packets.
//
// Sum runs over every emitted packet, so it adds 8 bytes at a time with
// carries (math/bits.Add64), four words per round, in the machine's byte
// order: the one's-complement sum does not depend on byte order (RFC 1071
// 2.B), so the folded result is swapped once at the end.
package csum

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Sum returns the one's-complement sum of b, read as big-endian 16-bit
// words (an odd last byte padded with a zero), plus initial, folded to 16
// bits (a value in [0, 0xffff], not complemented). Sums chain: the result
// is a valid initial for the next piece as long as every piece but the
// last has an even length.
func Sum(b []byte, initial uint32) uint32 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		s, c = bits.Add64(s, uint64(binary.LittleEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// The byte is the high half of a big-endian word: in the
		// little-endian sum it is the low half, swapped into place below.
		s, c = bits.Add64(s, uint64(b[0]), c)
	}
	s, c = bits.Add64(s, 0, c)
	s += c
	// Fold 64 -> 32 -> 16 bits with end-around carries.
	t := (s >> 32) + (s & 0xffffffff)
	t = (t >> 32) + (t & 0xffffffff)
	t = (t >> 16) + (t & 0xffff)
	t = (t >> 16) + (t & 0xffff)
	sum := uint64(bits.ReverseBytes16(uint16(t)))
	return uint32(fold(sum + uint64(initial)))
}

// fold reduces a 64-bit one's-complement accumulator to 16 bits.
func fold(s uint64) uint64 {
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return s
}

// Checksum is the value to put in a checksum field: the complement of
// Sum(b, initial), with the field itself zero in b.
func Checksum(b []byte, initial uint32) uint16 {
	return ^uint16(Sum(b, initial))
}

// IPv4Header returns the header checksum for the IPv4 header h (its IHL*4
// bytes), computed as if bytes 10..11 were zero, so it can be called on a
// header whose field holds anything.
func IPv4Header(h []byte) uint16 {
	if len(h) < 20 {
		return 0
	}
	s := Sum(h[:10], 0)
	return ^uint16(Sum(h[12:], s))
}

// IPv4HeaderValid reports whether the IPv4 header h (its IHL*4 bytes)
// carries a correct header checksum.
func IPv4HeaderValid(h []byte) bool {
	return len(h) >= 20 && Sum(h, 0) == 0xffff
}

// Pseudo returns the folded sum of the TCP/UDP pseudo-header (RFC 9293
// 3.1, RFC 8200 8.1): both addresses, the protocol and the L4 length.
// Both addresses must be of the same family; an IPv4-mapped IPv6 address
// counts as IPv6.
func Pseudo(src, dst netip.Addr, proto uint8, length int) uint32 {
	var s uint64
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = uint64(binary.BigEndian.Uint16(a[:])) + uint64(binary.BigEndian.Uint16(a[2:])) +
			uint64(binary.BigEndian.Uint16(b[:])) + uint64(binary.BigEndian.Uint16(b[2:]))
	} else {
		a, b := src.As16(), dst.As16()
		for i := 0; i < 16; i += 2 {
			s += uint64(binary.BigEndian.Uint16(a[i:])) + uint64(binary.BigEndian.Uint16(b[i:]))
		}
	}
	s += uint64(proto) + uint64(uint32(length)>>16) + uint64(uint32(length)&0xffff)
	return uint32(fold(s))
}

// Status is the verdict on a TCP or UDP checksum.
type Status uint8

// Statuses. Partial is what a receiver cannot judge but accepts: a
// sending host with checksum offload leaves the folded pseudo-header sum
// in the field for the NIC to finish (a capture on that host, or on a
// veth, sees it so); UDP over IPv4 may carry 0 for "no checksum"
// (RFC 768). A 0 field elsewhere is also Partial: a capture of offloaded
// traffic can hold it, and only Invalid is a packet the receiver drops.
const (
	Invalid Status = iota
	Valid
	Partial
)

// String names the status.
func (s Status) String() string {
	switch s {
	case Valid:
		return "valid"
	case Partial:
		return "partial"
	}
	return "invalid"
}

// L4 judges the checksum of a TCP (proto 6) or UDP (proto 17) segment seg
// (its header and payload, up to the end of the IP payload) carried from
// src to dst. Other protocols, and segments too short for their checksum
// field, are Invalid.
func L4(src, dst netip.Addr, proto uint8, seg []byte) Status {
	var at int
	switch proto {
	case 6:
		at = 16
		if len(seg) < 20 {
			return Invalid
		}
	case 17:
		at = 6
		if len(seg) < 8 {
			return Invalid
		}
	default:
		return Invalid
	}
	p := Pseudo(src, dst, proto, len(seg))
	if Sum(seg, p) == 0xffff {
		return Valid
	}
	field := uint32(binary.BigEndian.Uint16(seg[at:]))
	if field == 0 || field == p {
		return Partial
	}
	return Invalid
}
