// Package communityid computes the Community ID (version 1) of a flow:
// the flow hash of Corelight's public specification
// (https://github.com/corelight/community-id-spec) that Zeek, Suricata,
// Wireshark, Arkime and Elastic write too, so that an event of one tool
// can be found in the logs of another by one string. The sensor writes it
// as ECS network.community_id.
//
// The hash is SHA-1 over, in network byte order:
//
//	seed (2 bytes) | lower address | higher address | IP protocol (1) | 0 (1) | lower's port (2) | higher's port (2)
//
// with the endpoints ordered so that the smaller address (then port)
// comes first, which makes the id the same in both directions. IPv4 is
// hashed as 4 bytes (IPv4-mapped IPv6 addresses are unmapped first),
// IPv6 as 16. The result is "1:" and the digest in padded standard
// base64.
//
// It is an unkeyed hash of the raw addresses and ports: anyone can test
// guesses against it. It is for the customer's own tools and never goes
// to the cloud (the privacy allowlist drops network.community_id).
package communityid

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// Prefix is the version tag every id starts with.
const Prefix = "1:"

// Len is the length of an id: the prefix and 28 base64 characters.
const Len = len(Prefix) + 28

// maxInput is the longest hash input: seed, two IPv6 addresses,
// protocol and pad, two ports.
const maxInput = 2 + 16 + 16 + 2 + 4

// Protocol numbers with ports in the hash.
const (
	ICMP   uint8 = 1
	TCP    uint8 = 6
	UDP    uint8 = 17
	ICMPv6 uint8 = 58
	SCTP   uint8 = 132
)

// hasPorts says whether the spec hashes ports for proto: TCP, UDP and
// SCTP ports, and for ICMP and ICMPv6 the type and counter-type (or
// code) the spec maps them to; other protocols hash addresses alone.
func hasPorts(proto uint8) bool {
	switch proto {
	case ICMP, TCP, UDP, ICMPv6, SCTP:
		return true
	}
	return false
}

// Append appends the Community ID of the flow between a and b (in either
// order: the id is the same) over IP protocol proto, hashed with seed,
// to dst, and returns the extended slice. It does not allocate when dst
// has Len bytes of room. Nothing is appended when an address is invalid
// or the two are of different families (after unmapping).
//
// For ICMP and ICMPv6 the ports must be the spec's port equivalents of
// the message's type and code, and a one-way message type (the spec does
// not order those endpoints) must be passed in the order it was sent in:
// Append orders every flow. The sensor computes no id for ICMP.
func Append(dst []byte, seed uint16, proto uint8, a, b netip.AddrPort) []byte {
	var in [maxInput]byte
	n := input(&in, seed, proto, a, b)
	if n == 0 {
		return dst
	}
	sum := sha1.Sum(in[:n])
	dst = append(dst, Prefix...)
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// String is Append as a string; "" when Append appends nothing.
func String(seed uint16, proto uint8, a, b netip.AddrPort) string {
	var buf [Len]byte
	out := Append(buf[:0], seed, proto, a, b)
	if len(out) == 0 {
		return ""
	}
	return string(out)
}

// input writes the hash input into in and returns its length, 0 when the
// endpoints cannot be hashed.
func input(in *[maxInput]byte, seed uint16, proto uint8, a, b netip.AddrPort) int {
	// Zones are no part of the address on the wire.
	aa, ba := a.Addr().Unmap().WithZone(""), b.Addr().Unmap().WithZone("")
	if !aa.IsValid() || !ba.IsValid() || aa.Is4() != ba.Is4() {
		return 0
	}
	ap, bp := a.Port(), b.Port()
	if !hasPorts(proto) {
		ap, bp = 0, 0
	}
	if c := aa.Compare(ba); c > 0 || c == 0 && ap > bp {
		aa, ba, ap, bp = ba, aa, bp, ap
	}
	binary.BigEndian.PutUint16(in[0:], seed)
	n := 2
	if aa.Is4() {
		a4, b4 := aa.As4(), ba.As4()
		n += copy(in[n:], a4[:])
		n += copy(in[n:], b4[:])
	} else {
		a16, b16 := aa.As16(), ba.As16()
		n += copy(in[n:], a16[:])
		n += copy(in[n:], b16[:])
	}
	in[n], in[n+1] = proto, 0
	n += 2
	if hasPorts(proto) {
		binary.BigEndian.PutUint16(in[n:], ap)
		binary.BigEndian.PutUint16(in[n+2:], bp)
		n += 4
	}
	return n
}
