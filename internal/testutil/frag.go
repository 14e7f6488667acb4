package testutil

import (
	"encoding/binary"
)

// Fragments cuts an Ethernet frame's IP datagram into fragments carrying
// at most size bytes of payload each (a multiple of 8 but for the last),
// as a router would, and returns the fragment frames in order. IPv4
// headers get MF and the offset (and their checksum when the original
// had one); IPv6 gets a fragment header after the fixed header. l3 is the
// offset of the IP header in frame.
func Fragments(frame []byte, l3, size int, id uint32) [][]byte {
	size &^= 7
	var out [][]byte
	switch frame[l3] >> 4 {
	case 4:
		ihl := int(frame[l3]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(frame[l3+2:]))
		data := frame[l3+ihl : l3+tot]
		for off := 0; off < len(data); off += size {
			n := min(size, len(data)-off)
			f := append([]byte(nil), frame[:l3+ihl]...)
			f = append(f, data[off:off+n]...)
			binary.BigEndian.PutUint16(f[l3+2:], uint16(ihl+n))
			binary.BigEndian.PutUint16(f[l3+4:], uint16(id))
			fo := uint16(off / 8)
			if off+n < len(data) {
				fo |= 0x2000
			}
			binary.BigEndian.PutUint16(f[l3+6:], fo)
			f[l3+10], f[l3+11] = 0, 0
			binary.BigEndian.PutUint16(f[l3+10:], ipv4Checksum(f[l3:l3+ihl]))
			out = append(out, f)
		}
	case 6:
		plen := int(binary.BigEndian.Uint16(frame[l3+4:]))
		next := frame[l3+6]
		data := frame[l3+40 : l3+40+plen]
		for off := 0; off < len(data); off += size {
			n := min(size, len(data)-off)
			f := append([]byte(nil), frame[:l3+40]...)
			fh := make([]byte, 8)
			fh[0] = next
			v := uint16(off/8) << 3
			if off+n < len(data) {
				v |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], v)
			binary.BigEndian.PutUint32(fh[4:], id)
			f = append(f, fh...)
			f = append(f, data[off:off+n]...)
			f[l3+6] = 44
			binary.BigEndian.PutUint16(f[l3+4:], uint16(8+n))
			out = append(out, f)
		}
	}
	return out
}

func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// FixIPv4Checksum recomputes the header checksum of the IPv4 header at l3.
func FixIPv4Checksum(frame []byte, l3 int) {
	ihl := int(frame[l3]&0x0f) * 4
	frame[l3+10], frame[l3+11] = 0, 0
	binary.BigEndian.PutUint16(frame[l3+10:], ipv4Checksum(frame[l3:l3+ihl]))
}
