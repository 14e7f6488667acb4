package libeval

import (
	"encoding/binary"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/userspace/files/formats/ole2"
)

// A copy of the ole2 package's test writer (python3-olefile 0.46 reads
// what it writes). A compound file writer for tests (MS-CFB v3 with 512-byte sectors, v4
// with 4096): a tree of storages and streams, streams below the cutoff
// in the mini stream. The sectors are, in order: the directory, the mini
// FAT, the mini stream, the regular streams, then the FAT (at most 109
// sectors: no DIFAT).

type node struct {
	name string
	typ  byte // ole2.TypeStorage or ole2.TypeStream
	data []byte
	kids []node
}

func stream(name string, data []byte) node { return node{name: name, typ: ole2.TypeStream, data: data} }

func storage(name string, kids ...node) node {
	return node{name: name, typ: ole2.TypeStorage, kids: kids}
}

const (
	freeSect   = 0xFFFFFFFF
	fatSect    = 0xFFFFFFFD
	endOfChain = 0xFFFFFFFE
)

type builder struct {
	ss      int
	sectors [][]byte
	fat     []uint32
	dir     []byte
}

// chain appends data as a chain of new sectors and returns its start.
func (b *builder) chain(data []byte) uint32 {
	if len(data) == 0 {
		return endOfChain
	}
	start := uint32(len(b.sectors))
	for off := 0; off < len(data); off += b.ss {
		s := make([]byte, b.ss)
		copy(s, data[off:])
		b.sectors = append(b.sectors, s)
		b.fat = append(b.fat, uint32(len(b.sectors)))
	}
	b.fat[len(b.fat)-1] = endOfChain
	return start
}

// build lays out a compound file whose root holds kids.
func build(ss int, cutoff uint32, kids ...node) []byte {
	le := binary.LittleEndian
	b := &builder{ss: ss}
	type entry struct {
		n     *node
		child uint32
		right uint32
		start uint32
		size  uint64
	}
	root := node{name: "Root Entry", typ: ole2.TypeRoot, kids: kids}
	entries := []*entry{{n: &root, child: freeSect, right: freeSect}}
	var walk func(e *entry)
	walk = func(e *entry) {
		var prev *entry
		for i := range e.n.kids {
			k := &entry{n: &e.n.kids[i], child: freeSect, right: freeSect}
			idx := uint32(len(entries))
			entries = append(entries, k)
			if prev == nil {
				e.child = idx
			} else {
				prev.right = idx
			}
			prev = k
			walk(k)
		}
	}
	walk(entries[0])

	// The mini stream and the mini FAT.
	var mini []byte
	var minifat []uint32
	for _, e := range entries {
		e.size, e.start = uint64(len(e.n.data)), endOfChain
		if e.n.typ != ole2.TypeStream || len(e.n.data) >= int(cutoff) || len(e.n.data) == 0 {
			continue
		}
		e.start = uint32(len(mini) / 64)
		for off := 0; off < len(e.n.data); off += 64 {
			piece := make([]byte, 64)
			copy(piece, e.n.data[off:])
			mini = append(mini, piece...)
			minifat = append(minifat, uint32(len(mini)/64))
		}
		minifat[len(minifat)-1] = endOfChain
	}
	// The directory: its sectors come first, so reserve them.
	nDir := (128*len(entries) + ss - 1) / ss
	b.dir = make([]byte, nDir*ss)
	dirStart := b.chain(b.dir)
	var mfb []byte
	for _, v := range minifat {
		mfb = le.AppendUint32(mfb, v)
	}
	miniFATStart := b.chain(mfb)
	entries[0].start, entries[0].size = b.chain(mini), uint64(len(mini))
	for _, e := range entries[1:] {
		if e.n.typ == ole2.TypeStream && len(e.n.data) >= int(cutoff) {
			e.start = b.chain(e.n.data)
		}
	}
	for i, e := range entries {
		d := b.dir[128*i:]
		u := utf16.Encode([]rune(e.n.name))
		for j, c := range u {
			le.PutUint16(d[2*j:], c)
		}
		le.PutUint16(d[64:], uint16(2*len(u)+2))
		d[66], d[67] = e.n.typ, 1
		le.PutUint32(d[68:], freeSect)
		le.PutUint32(d[72:], e.right)
		le.PutUint32(d[76:], e.child)
		if e.n.typ != ole2.TypeStorage {
			le.PutUint32(d[116:], e.start)
			le.PutUint64(d[120:], e.size)
		}
	}
	for k := range nDir {
		copy(b.sectors[int(dirStart)+k], b.dir[k*ss:])
	}
	// The FAT covers every sector, its own included.
	per := ss / 4
	nFAT := 1
	for nFAT*per < len(b.sectors)+nFAT {
		nFAT++
	}
	fatStart := len(b.sectors)
	for range nFAT {
		b.sectors = append(b.sectors, make([]byte, ss))
		b.fat = append(b.fat, fatSect)
	}
	for len(b.fat) < nFAT*per {
		b.fat = append(b.fat, freeSect)
	}
	for i, v := range b.fat {
		le.PutUint32(b.sectors[fatStart+i/per][4*(i%per):], v)
	}
	h := make([]byte, ss)
	copy(h, ole2.Magic)
	le.PutUint16(h[24:], 0x3E)
	le.PutUint16(h[26:], 3)
	le.PutUint16(h[30:], 9)
	if ss == 4096 {
		le.PutUint16(h[26:], 4)
		le.PutUint16(h[30:], 12)
		le.PutUint32(h[40:], uint32(nDir))
	}
	le.PutUint16(h[28:], 0xFFFE)
	le.PutUint16(h[32:], 6)
	le.PutUint32(h[44:], uint32(nFAT))
	le.PutUint32(h[48:], dirStart)
	le.PutUint32(h[56:], cutoff)
	le.PutUint32(h[60:], miniFATStart)
	le.PutUint32(h[64:], uint32((len(mfb)+ss-1)/ss))
	le.PutUint32(h[68:], endOfChain)
	for i := range 109 {
		v := uint32(freeSect)
		if i < nFAT {
			v = uint32(fatStart + i)
		}
		le.PutUint32(h[76+4*i:], v)
	}
	out := h
	for _, s := range b.sectors {
		out = append(out, s...)
	}
	return out
}
