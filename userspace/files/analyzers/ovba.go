package analyzers

import (
	"encoding/binary"
	"math/bits"
)

// decompressVBA undoes MS-OVBA 2.4.1 compression (the format of VBA
// source in module streams and of the dir stream). b starts with the
// container's signature byte 0x01. It stops at max output bytes or the
// first malformed chunk and reports whether any chunk was valid.
func decompressVBA(b []byte, max int) ([]byte, bool) {
	if len(b) < 3 || b[0] != 1 {
		return nil, false
	}
	var out []byte
	ok := false
	for p := 1; p+2 <= len(b) && len(out) < max; {
		h := binary.LittleEndian.Uint16(b[p:])
		if h>>12&7 != 3 { // chunk signature 0b011
			break
		}
		end := min(p+int(h&0x0FFF)+3, len(b))
		p += 2
		start := len(out)
		if h>>15 == 0 { // stored: 4096 raw bytes
			out = append(out, b[p:min(p+4096, len(b))]...)
			p += 4096
			ok = true
			continue
		}
		for p < end && len(out) < max {
			flags := b[p]
			p++
			for bit := 0; bit < 8 && p < end; bit++ {
				if flags>>bit&1 == 0 {
					out = append(out, b[p])
					p++
					continue
				}
				if p+2 > end {
					return out, ok
				}
				tok := binary.LittleEndian.Uint16(b[p:])
				p += 2
				d := len(out) - start
				n := max4(bits.Len(uint(d - 1)))
				lenMask := uint16(0xFFFF) >> n
				length := int(tok&lenMask) + 3
				off := int(tok>>(16-n)) + 1
				src := len(out) - off
				if d == 0 || src < start {
					return out, ok
				}
				for k := 0; k < length && len(out) < max; k++ {
					out = append(out, out[src+k])
				}
			}
		}
		ok = true
		p = end
	}
	return out, ok
}

// max4 is the copy token's offset bit count: ceil(log2(d)), at least 4.
func max4(n int) int {
	if n < 4 {
		return 4
	}
	return min(n, 12)
}
