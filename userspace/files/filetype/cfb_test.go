package filetype

import (
	"encoding/binary"
	"unicode/utf16"
)

// A small MS-CFB (v3, 512-byte sectors) writer for tests: sector 0 is
// the FAT, sector 1 the directory (root + up to 3 streams, chained as
// right siblings), then each stream in regular sectors. cutoff is the
// header's mini stream cutoff (0 keeps every stream out of the mini
// stream, which this writer does not build).

type cfbStream struct {
	name string
	data []byte
}

var msiCLSIDBytes = []byte{0x84, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}

func buildCFB(clsid []byte, cutoff uint32, streams ...cfbStream) []byte {
	const ss = 512
	le := binary.LittleEndian
	h := make([]byte, ss)
	copy(h, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")
	le.PutUint16(h[24:], 0x3E)
	le.PutUint16(h[26:], 3)
	le.PutUint16(h[28:], 0xFFFE)
	le.PutUint16(h[30:], 9)
	le.PutUint16(h[32:], 6)
	le.PutUint32(h[44:], 1) // FAT sectors
	le.PutUint32(h[48:], 1) // first directory sector
	le.PutUint32(h[56:], cutoff)
	le.PutUint32(h[60:], 0xFFFFFFFE) // no mini FAT
	le.PutUint32(h[68:], 0xFFFFFFFE) // no more DIFAT
	for i := range 109 {
		le.PutUint32(h[76+4*i:], 0xFFFFFFFF)
	}
	le.PutUint32(h[76:], 0) // the FAT is sector 0

	fat := make([]uint32, ss/4)
	for i := range fat {
		fat[i] = 0xFFFFFFFF
	}
	fat[0], fat[1] = 0xFFFFFFFD, 0xFFFFFFFE
	dir := make([]byte, ss)
	entry := func(i int, name string, typ byte, start uint32, size int) []byte {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1 // black
		le.PutUint32(e[68:], 0xFFFFFFFF)
		le.PutUint32(e[72:], 0xFFFFFFFF)
		le.PutUint32(e[76:], 0xFFFFFFFF)
		le.PutUint32(e[116:], start)
		le.PutUint32(e[120:], uint32(size))
		return e
	}
	root := entry(0, "Root Entry", 5, 0xFFFFFFFE, 0)
	copy(root[80:], clsid)
	var data []byte
	next := uint32(2)
	for i, s := range streams {
		n := (len(s.data) + ss - 1) / ss
		e := entry(i+1, s.name, 2, next, len(s.data))
		if i == 0 {
			le.PutUint32(root[76:], 1) // child
		}
		if i+1 < len(streams) {
			le.PutUint32(e[72:], uint32(i+2)) // right sibling
		}
		for k := range n {
			fat[next+uint32(k)] = next + uint32(k) + 1
		}
		fat[next+uint32(n)-1] = 0xFFFFFFFE
		next += uint32(n)
		pad := make([]byte, n*ss)
		copy(pad, s.data)
		data = append(data, pad...)
	}
	fatb := make([]byte, ss)
	for i, v := range fat {
		le.PutUint32(fatb[4*i:], v)
	}
	out := append(append(append(h, fatb...), dir...), data...)
	return out
}

func msiFile() []byte { return buildCFB(msiCLSIDBytes, 4096) }

// propStream builds a property set stream (MS-OLEPS) with one set whose
// properties are strings: VT_LPWSTR when wide, else VT_LPSTR in cp.
func propStream(fmtid []byte, cp uint16, wide bool, props map[uint32]string) []byte {
	le := binary.LittleEndian
	type kv struct {
		id  uint32
		val []byte
	}
	vals := []kv{{1, func() []byte { b := make([]byte, 8); le.PutUint16(b, 2); le.PutUint16(b[4:], cp); return b }()}}
	for id := uint32(2); id < 64; id++ {
		s, ok := props[id]
		if !ok {
			continue
		}
		var b []byte
		if wide {
			u := append(utf16.Encode([]rune(s)), 0)
			b = make([]byte, 8+2*len(u))
			le.PutUint16(b, 0x1F)
			le.PutUint32(b[4:], uint32(len(u)))
			for i, c := range u {
				le.PutUint16(b[8+2*i:], c)
			}
		} else {
			raw := append([]byte(s), 0)
			b = make([]byte, 8+len(raw))
			le.PutUint16(b, 0x1E)
			le.PutUint32(b[4:], uint32(len(raw)))
			copy(b[8:], raw)
		}
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		vals = append(vals, kv{id, b})
	}
	set := make([]byte, 8+8*len(vals))
	le.PutUint32(set[4:], uint32(len(vals)))
	for i, v := range vals {
		le.PutUint32(set[8+8*i:], v.id)
		le.PutUint32(set[12+8*i:], uint32(len(set)))
		set = append(set, v.val...)
	}
	le.PutUint32(set, uint32(len(set)))
	hdr := make([]byte, 48)
	le.PutUint16(hdr, 0xFFFE)
	le.PutUint32(hdr[24:], 1)
	copy(hdr[28:], fmtid)
	le.PutUint32(hdr[44:], 48)
	return append(hdr, set...)
}
