package craft

import (
	"encoding/binary"
	"fmt"
)

// FragPiece is one fragment's share of a datagram's payload (what
// follows the IPv4 header, or the IPv6 header).
type FragPiece struct {
	Off  int // byte offset in the payload, a multiple of 8
	Data []byte
	More bool
}

// Pieces cuts payload in order: the first piece sizes[0] bytes, the next
// sizes[1]..., the last size repeating; every size but the last piece's
// a multiple of 8.
func Pieces(payload []byte, sizes ...int) []FragPiece {
	var ps []FragPiece
	for off, i := 0, 0; off < len(payload); i++ {
		n := sizes[min(i, len(sizes)-1)]
		end := min(off+n, len(payload))
		ps = append(ps, FragPiece{Off: off, Data: payload[off:end], More: end < len(payload)})
		off = end
	}
	return ps
}

// Reverse returns the pieces last first.
func Reverse(ps []FragPiece) []FragPiece {
	out := make([]FragPiece, len(ps))
	for i, p := range ps {
		out[len(ps)-1-i] = p
	}
	return out
}

// PayloadOf is the part of a datagram (without extension headers) that
// fragments carry.
func PayloadOf(ip []byte) []byte {
	if ip[0]>>4 == 6 {
		return ip[40:]
	}
	return ip[int(ip[0]&0x0f)*4:]
}

// Frag4 returns the IPv4 fragments of ip holding pieces of its payload
// (RFC 791): each a copy of the header with its length, the more-
// fragments bit and the offset in 8-byte units, the don't-fragment bit
// clear and the header checksum recomputed.
func Frag4(ip []byte, pieces []FragPiece) ([][]byte, error) {
	hl := int(ip[0]&0x0f) * 4
	var out [][]byte
	for _, p := range pieces {
		if p.Off%8 != 0 {
			return nil, fmt.Errorf("fragment offset %d is not a multiple of 8", p.Off)
		}
		f := make([]byte, hl+len(p.Data))
		copy(f, ip[:hl])
		copy(f[hl:], p.Data)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(p.Off / 8)
		if p.More {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:], ipv4Checksum(f[:hl]))
		out = append(out, f)
	}
	return out, nil
}

// Frag6 returns the IPv6 fragments of ip (which has no extension
// header) holding pieces of its payload: each the IPv6 header with next
// header 44 and a Fragment header (RFC 8200 4.5) carrying the original
// next header, the offset, the M flag and id.
func Frag6(ip []byte, id uint32, pieces []FragPiece) ([][]byte, error) {
	nh := ip[6]
	var out [][]byte
	for _, p := range pieces {
		if p.Off%8 != 0 {
			return nil, fmt.Errorf("fragment offset %d is not a multiple of 8", p.Off)
		}
		f := make([]byte, 48+len(p.Data))
		copy(f, ip[:40])
		binary.BigEndian.PutUint16(f[4:], uint16(8+len(p.Data)))
		f[6] = 44
		f[40] = nh
		fo := uint16(p.Off/8) << 3
		if p.More {
			fo |= 1
		}
		binary.BigEndian.PutUint16(f[42:], fo)
		binary.BigEndian.PutUint32(f[44:], id)
		copy(f[48:], p.Data)
		out = append(out, f)
	}
	return out, nil
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
