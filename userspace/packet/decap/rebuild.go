package decap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/edgesensor/edgesensor/userspace/packet/csum"
)

// fixKind is a field of an enclosing layer that depends on the length of
// what it carries.
type fixKind uint8

const (
	fixIPv4  fixKind = iota + 1 // total length, header checksum
	fixIPv6                     // payload length
	fixUDP                      // length, checksum
	fixPPPoE                    // length
	fixGTP                      // length
	fixGRE                      // checksum (C bit set)
)

type fix struct {
	kind fixKind
	off  int // the header
	ip   int // UDP: the IP header that carries it
}

// fixups collects, during a parse, the enclosing length fields up to the
// IP header Rebuild replaces. At most 5 IP headers (the outer and one per
// tunnel), 4 tunnel UDP headers and MaxLayers PPPoE, GTP-U and GRE
// layers: 25 fit.
type fixups struct {
	n       int
	f       [32]fix
	version uint8 // IP version expected at the stop
	over    bool  // more fields than f holds (cannot happen within the limits)
}

// add records a field; a nil receiver (Parse) records nothing.
func (x *fixups) add(k fixKind, off, ip int) {
	if x == nil {
		return
	}
	if x.n == len(x.f) {
		x.over = true
		return
	}
	x.f[x.n] = fix{k, off, ip}
	x.n++
}

// errReached stops a parse at Rebuild's IP header.
var errReached = errors.New("decap: rebuild point reached")

// Errors of Rebuild besides those of the parse.
var (
	ErrNotOnPath = errors.New("decap: offset is not an IP header on the frame's parse path")
	ErrTooLong   = errors.New("decap: rebuilt frame overflows a 16-bit length field")
	ErrInner     = errors.New("decap: inner packet is not an IP packet of the version the frame carries there")
)

// Rebuild returns frame[:l3] followed by inner, a whole IP packet,
// appended to dst[:0], with every length field of the layers enclosing l3
// set for the new length: IPv4 total length and header checksum, IPv6
// payload length, UDP length (checksum 0 over IPv4, recomputed over IPv6),
// PPPoE length, GTP-U length, and the GRE checksum when present. Every
// enclosing layer ends where inner ends. l3 must be an IP header the
// parse of frame reaches (f.L3 of a Parse, or any outer IP header), and
// inner of the same IP version. With room in dst it does not allocate.
//
// Over IPv6 the UDP checksum uses the IPv6 header's destination, even
// when a routing header names another final destination.
func Rebuild(dst, frame []byte, l3 int, inner []byte) ([]byte, error) {
	var f Frame
	var fx fixups
	err := parse(frame, &f, l3, &fx)
	if err != errReached {
		if err == nil {
			err = ErrNotOnPath
		}
		return dst, fmt.Errorf("rebuilding at offset %d: %w", l3, err)
	}
	if fx.over {
		return dst, fmt.Errorf("rebuilding at offset %d: %w", l3, ErrLayerDepth)
	}
	if len(inner) == 0 || inner[0]>>4 != fx.version {
		return dst, fmt.Errorf("rebuilding at offset %d: %w", l3, ErrInner)
	}
	end := l3 + len(inner)
	// Lengths first: every field depends only on where the frame ends.
	for i := range fx.n {
		x := fx.f[i]
		var n int
		switch x.kind {
		case fixIPv4:
			n = end - x.off
		case fixIPv6:
			n = end - x.off - 40
		case fixUDP:
			n = end - x.off
		case fixPPPoE:
			n = end - x.off - 6
		case fixGTP:
			n = end - x.off - 8
		default:
			continue
		}
		if n > 0xffff {
			return dst, fmt.Errorf("rebuilding at offset %d with %d bytes: %w", l3, len(inner), ErrTooLong)
		}
	}
	out := append(append(dst[:0], frame[:l3]...), inner...)
	for i := range fx.n {
		x := fx.f[i]
		switch x.kind {
		case fixIPv4:
			put16(out[x.off+2:], end-x.off)
		case fixIPv6:
			put16(out[x.off+4:], end-x.off-40)
		case fixUDP:
			put16(out[x.off+4:], end-x.off)
		case fixPPPoE:
			put16(out[x.off+4:], end-x.off-6)
		case fixGTP:
			put16(out[x.off+2:], end-x.off-8)
		}
	}
	// Checksums from the innermost out: an outer UDP or GRE checksum
	// covers the inner headers, an IPv4 header checksum its own header.
	for i := fx.n - 1; i >= 0; i-- {
		x := fx.f[i]
		switch x.kind {
		case fixIPv4:
			ihl := int(out[x.off]&0x0f) * 4
			binary.BigEndian.PutUint16(out[x.off+10:], csum.IPv4Header(out[x.off:x.off+ihl]))
		case fixUDP:
			c := out[x.off+6 : x.off+8]
			c[0], c[1] = 0, 0
			if out[x.ip]>>4 == 6 {
				src := netip.AddrFrom16([16]byte(out[x.ip+8 : x.ip+24]))
				dst := netip.AddrFrom16([16]byte(out[x.ip+24 : x.ip+40]))
				s := csum.Checksum(out[x.off:end], csum.Pseudo(src, dst, protoUDP, end-x.off))
				if s == 0 {
					s = 0xffff // RFC 768: a computed 0 is sent as all ones
				}
				binary.BigEndian.PutUint16(c, s)
			}
		case fixGRE:
			c := out[x.off+4 : x.off+6]
			c[0], c[1] = 0, 0
			binary.BigEndian.PutUint16(c, csum.Checksum(out[x.off:end], 0))
		}
	}
	return out, nil
}

func put16(b []byte, v int) { binary.BigEndian.PutUint16(b, uint16(v)) }
