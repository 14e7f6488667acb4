package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
	"github.com/edgesensor/edgesensor/userspace/packet/decap"
)

// Resets the program cannot make (bpf/enforce.h enf_reset makes them only
// for a frame whose IP header follows Ethernet and at most two VLAN tags
// directly, without IPv4 options or IPv6 extension headers): a held
// packet of a flow blocked inside a tunnel, behind PPPoE or MPLS, or
// with such options. Userspace makes the same reset, in the packet's own
// direction at its sequence number (what its receiver expects next),
// inside the packet's enclosing layers (decap.Rebuild sets their lengths
// and checksums). (For a packet from the client, SMTP's held mail, the
// program resets the client over XDP_TX; this one goes on to the
// server, which ends the transaction: the client learns of it later.)

var errNoReset = errors.New("not a TCP segment the sensor can reset")

// programResets reports whether the program makes frame's reset itself
// (fr its parse): a whole TCP segment, not a fragment, its IP header
// right after Ethernet and up to two VLAN tags (its EtherType in front of
// it: not PPPoE's or MPLS's), followed by TCP (bpf/enforce.h enf_reset).
func programResets(frame []byte, fr *decap.Frame) bool {
	if fr.Truncated || fr.Fragment || fr.Proto != 6 || fr.Tunnels() > 0 ||
		(fr.L3 != 14 && fr.L3 != 18 && fr.L3 != 22) || fr.L3 > len(frame) {
		return false
	}
	hdr, etype := 40, uint16(0x86dd)
	if fr.Family == 4 {
		hdr, etype = 20, 0x0800
	}
	return binary.BigEndian.Uint16(frame[fr.L3-2:]) == etype && fr.L4 == fr.L3+hdr
}

// ownDirectionReset appends to dst[:0] frame with its innermost TCP
// segment replaced by a reset at the segment's sequence number: no
// payload, no options, no IPv4 options or IPv6 extension headers,
// checksums right, every enclosing layer's lengths set for it.
func ownDirectionReset(dst, frame []byte, fr *decap.Frame) ([]byte, error) {
	// Only the headers are read: a copy cut by the snaplen will do.
	if fr.Proto != 6 || fr.Fragment || fr.L4 <= fr.L3 || fr.L4+20 > len(frame) {
		return dst, errNoReset
	}
	th := frame[fr.L4:]
	if th[13]&0x04 != 0 {
		return dst, errNoReset // never a reset to a reset
	}
	if fr.Family == 6 && routed(frame, fr) {
		// Without its routing header the reset would go to the next
		// waypoint, not to the segment's receiver.
		return dst, errNoReset
	}
	n := 20
	if fr.Family == 6 {
		n = 40
	}
	pkt := make([]byte, n+20)
	if ip := pkt[:n]; fr.Family == 4 {
		src := frame[fr.L3:]
		ip[0], ip[8], ip[9] = 0x45, src[8], 6
		binary.BigEndian.PutUint16(ip[2:], 40)
		binary.BigEndian.PutUint16(ip[6:], 0x4000)
		copy(ip[12:20], src[12:20])
		binary.BigEndian.PutUint16(ip[10:], csum.IPv4Header(ip))
	} else {
		copy(ip[:4], frame[fr.L3:fr.L3+4]) // version, class, flow label
		binary.BigEndian.PutUint16(ip[4:], 20)
		ip[6], ip[7] = 6, frame[fr.L3+7]
		s, d := fr.Src.As16(), fr.Dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	tcp := pkt[n:]
	copy(tcp[0:8], th[0:8]) // ports and sequence number
	tcp[12], tcp[13] = 5<<4, 0x04
	binary.BigEndian.PutUint16(tcp[16:], csum.Checksum(tcp, csum.Pseudo(fr.Src, fr.Dst, 6, len(tcp))))
	out, err := decap.Rebuild(dst, frame, fr.L3, pkt)
	if err != nil {
		return dst, fmt.Errorf("reset inside the frame's layers: %w", err)
	}
	return out, nil
}

// routed reports whether the IPv6 extension headers between fr.L3 and
// fr.L4 hold a routing header.
func routed(frame []byte, fr *decap.Frame) bool {
	next, off := frame[fr.L3+6], fr.L3+40
	for off+2 <= fr.L4 && off+2 <= len(frame) {
		switch next {
		case 43:
			return true
		case 44: // fragment
			next, off = frame[off], off+8
		case 51: // AH
			next, off = frame[off], off+(int(frame[off+1])+2)*4
		default:
			next, off = frame[off], off+(int(frame[off+1])+1)*8
		}
	}
	return next == 43
}
