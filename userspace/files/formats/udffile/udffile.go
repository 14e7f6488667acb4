// Package udffile lists the files of a UDF image (ECMA-167 with the OSTA
// UDF profile): the disk images mkudffs and Windows make, which mount
// with a double click like an ISO, and the UDF side of ISO/UDF bridge
// images (what Windows mounts; the analyzers read a bridge's ISO 9660
// side with package isofile, then the UDF files it does not list).
//
// Read: the anchor volume descriptor pointer at sector 256 (block sizes
// 512 to 4096 are tried), the main volume descriptor sequence (partition
// and logical volume descriptors, type 1 partition maps), the file set
// descriptor, then the directory tree from the root's file entry: file
// identifier descriptors, (extended) file entries with short, long or
// embedded allocation descriptors. Not read: type 2 partition maps (the
// metadata partition of UDF 2.50+, sparable and virtual partitions; the
// image is then reported with Unsupported set), named streams, and
// allocation descriptor continuation extents (a file's extents after
// one are cut, counted in Stats.CutExtents). Tags are checked (checksum
// and location); a descriptor with a bad tag is not used.
//
// Bounded: MaxDepth directory levels, MaxEntries files, MaxDirBytes of
// one directory, MaxExtents extents a file, each directory's file entry
// read once (no loops). Parse never panics.
package udffile

import (
	"encoding/binary"
	"io"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted image.
const (
	MaxDepth    = 64 // deep trees are cheap to make; the bytes read bound the walk
	MaxEntries  = 10000
	MaxDirBytes = 1 << 20
	MaxExtents  = 1024
	maxVDS      = 64 // descriptors of the volume descriptor sequence read
)

// Extent is a run of a file's bytes in the image; Zero for an extent
// allocated but not recorded (reads as zeros).
type Extent struct {
	Offset, Size int64
	Zero         bool
}

// File is one file of the image.
type File struct {
	Path    string
	Size    int64 // the file entry's information length
	Extents []Extent
	// Embedded: the content is inside the file entry (small files);
	// Extents then holds the one run of it.
}

// Stats count what was cut or malformed.
type Stats struct {
	BadTags     int // descriptors whose tag did not check
	CutExtents  int // files whose extents went on past a continuation or MaxExtents
	SkippedDirs int // directories not walked (depth, a loop)
}

// Image is what Parse found.
type Image struct {
	BlockSize   int
	VolumeID    string
	Files       []File
	Truncated   bool // a bound stopped the walk
	Unsupported bool // a partition map of a kind not read: no files listed
	Stats       Stats
}

type reader struct {
	r        io.ReaderAt
	size     int64
	bs       int64
	partRef  map[uint16]int64 // partition reference number -> start byte
	img      *Image
	seen     map[int64]bool
	dirBytes int64
}

// Parse reads the UDF image in the size bytes of r; nil when there is
// no anchor at sector 256 or no volume to read.
func Parse(r io.ReaderAt, size int64) *Image {
	for _, bs := range []int64{2048, 512, 1024, 4096} {
		a := pager.ReadAt(r, size, 256*bs, int(bs))
		if int64(len(a)) == bs && tagOK(a, 2, 256) { // whole blocks only: fields are read at fixed places
			return parseAt(r, size, bs, a)
		}
	}
	return nil
}

func parseAt(r io.ReaderAt, size, bs int64, avdp []byte) *Image {
	x := &reader{r: r, size: size, bs: bs, img: &Image{BlockSize: int(bs)}, partRef: map[uint16]int64{}, seen: map[int64]bool{}}
	vdsLen := int64(binary.LittleEndian.Uint32(avdp[16:]))
	vdsLoc := int64(binary.LittleEndian.Uint32(avdp[20:]))
	parts := map[uint16][2]int64{} // partition number -> start, length (blocks)
	var lvd []byte
	for i := int64(0); i < min(vdsLen/bs, maxVDS); i++ {
		d := pager.ReadAt(r, size, (vdsLoc+i)*bs, int(bs))
		id := tagID(d)
		if int64(len(d)) < bs || id == 0 || !tagOK(d, id, uint32(vdsLoc+i)) {
			x.img.Stats.BadTags++
			break
		}
		switch id {
		case 1: // primary volume descriptor: the volume identifier
			x.img.VolumeID = dstring(d[24:56])
		case 5:
			parts[binary.LittleEndian.Uint16(d[22:])] = [2]int64{int64(binary.LittleEndian.Uint32(d[188:])), int64(binary.LittleEndian.Uint32(d[192:]))}
		case 6:
			lvd = d
		}
		if id == 8 { // terminating descriptor
			break
		}
	}
	if lvd == nil || int64(binary.LittleEndian.Uint32(lvd[212:])) != bs {
		return nil
	}
	// Partition maps: reference number i is the i-th map.
	nMaps := int(min(binary.LittleEndian.Uint32(lvd[268:]), 64))
	mapLen := int(binary.LittleEndian.Uint32(lvd[264:]))
	m := lvd[440:min(len(lvd), 440+max(mapLen, 0))]
	for i, p := 0, 0; i < nMaps && p+2 <= len(m); i++ {
		typ, l := m[p], int(m[p+1])
		if l < 2 || p+l > len(m) {
			break
		}
		if typ == 1 && l >= 6 {
			if pd, ok := parts[binary.LittleEndian.Uint16(m[p+4:])]; ok {
				x.partRef[uint16(i)] = pd[0] * bs
			}
		} else {
			x.img.Unsupported = true
		}
		p += l
	}
	if x.img.Unsupported {
		return x.img
	}
	// The file set descriptor: long_ad in the logical volume contents use.
	fsd := x.block(lvd[248:])
	if !tagOK(fsd, 256, uint32(x.rel(lvd[248:]))) {
		x.img.Stats.BadTags++
		return x.img
	}
	x.dir(fsd[400:416], "", 0)
	return x.img
}

// rel is a long_ad's block number within its partition (the tag
// location of a descriptor there).
func (x *reader) rel(ad []byte) int64 { return int64(binary.LittleEndian.Uint32(ad[4:])) }

// addr is the byte offset a long_ad points at; -1 when its partition is
// not known.
func (x *reader) addr(ad []byte) int64 {
	start, ok := x.partRef[binary.LittleEndian.Uint16(ad[8:])]
	if !ok {
		return -1
	}
	return start + x.rel(ad)*x.bs
}

func (x *reader) block(ad []byte) []byte {
	off := x.addr(ad)
	if off < 0 {
		return nil
	}
	if b := pager.ReadAt(x.r, x.size, off, int(x.bs)); int64(len(b)) == x.bs {
		return b
	}
	return nil
}

// entry reads the file entry a long_ad points at: its type, size and
// extents (byte offsets).
func (x *reader) entry(icb []byte, partStart int64) (ftype byte, size int64, ext []Extent, ok bool) {
	fe := x.block(icb)
	id := tagID(fe)
	if (id != 261 && id != 266) || !tagOK(fe, id, uint32(x.rel(icb))) {
		x.img.Stats.BadTags++
		return 0, 0, nil, false
	}
	ftype = fe[27]
	size = int64(min(binary.LittleEndian.Uint64(fe[56:]), 1<<62))
	adType := binary.LittleEndian.Uint16(fe[34:]) & 7
	var lEA, lAD, base int
	if id == 261 {
		lEA, lAD, base = int(binary.LittleEndian.Uint32(fe[168:])), int(binary.LittleEndian.Uint32(fe[172:])), 176
	} else {
		lEA, lAD, base = int(binary.LittleEndian.Uint32(fe[208:])), int(binary.LittleEndian.Uint32(fe[212:])), 216
	}
	if lEA < 0 || lAD < 0 || base+lEA > len(fe) || base+lEA+lAD > len(fe) {
		return ftype, size, nil, true
	}
	ads := fe[base+lEA : base+lEA+lAD]
	feOff := x.addr(icb)
	switch adType {
	case 3: // embedded: the content is the descriptors' area
		return ftype, size, []Extent{{Offset: feOff + int64(base+lEA), Size: int64(min(int64(lAD), size))}}, true
	case 0, 1:
		step := 8
		if adType == 1 {
			step = 16
		}
		left := size
		for p := 0; p+step <= len(ads) && left > 0; p += step {
			l := binary.LittleEndian.Uint32(ads[p:])
			kind, n := l>>30, int64(l&0x3FFFFFFF)
			if n == 0 {
				break
			}
			if kind == 3 || len(ext) >= MaxExtents {
				x.img.Stats.CutExtents++
				break
			}
			var off int64
			if adType == 0 {
				off = partStart + int64(binary.LittleEndian.Uint32(ads[p+4:]))*x.bs
			} else if off = x.addr(ads[p+4:]); off < 0 {
				break
			}
			n = min(n, left)
			ext = append(ext, Extent{Offset: off, Size: n, Zero: kind != 0})
			left -= n
		}
	}
	return ftype, size, ext, true
}

// dir walks the directory whose file entry icb points at.
func (x *reader) dir(icb []byte, prefix string, depth int) {
	off := x.addr(icb)
	if depth > MaxDepth || off < 0 || x.seen[off] {
		x.img.Stats.SkippedDirs++
		x.img.Truncated = x.img.Truncated || depth > MaxDepth
		return
	}
	x.seen[off] = true
	partStart := x.partRef[binary.LittleEndian.Uint16(icb[8:])]
	_, _, ext, ok := x.entry(icb, partStart)
	if !ok {
		return
	}
	var b []byte
	for _, e := range ext {
		if int64(len(b))+e.Size > MaxDirBytes || x.dirBytes+e.Size > 16*MaxDirBytes {
			x.img.Truncated = true
			break
		}
		x.dirBytes += e.Size
		if e.Zero {
			b = append(b, make([]byte, e.Size)...)
			continue
		}
		b = append(b, pager.ReadAt(x.r, x.size, e.Offset, int(e.Size))...)
	}
	for p := 0; p+38 <= len(b); {
		d := b[p:]
		if tagID(d) != 257 {
			return // not a file identifier descriptor: the directory ends
		}
		chars, lFI, lIU := d[18], int(d[19]), int(binary.LittleEndian.Uint16(d[36:]))
		n := (38 + lIU + lFI + 3) &^ 3
		if p+n > len(b) || 38+lIU+lFI > len(d) {
			return
		}
		p += n
		if chars&(4|8) != 0 { // deleted, or the parent
			continue
		}
		name := dstringRaw(d[38+lIU : 38+lIU+lFI])
		if name == "" {
			continue
		}
		child := d[20:36]
		if chars&2 != 0 {
			x.dir(child, prefix+name+"/", depth+1)
			continue
		}
		if len(x.img.Files) >= MaxEntries {
			x.img.Truncated = true
			return
		}
		cpart, ok := x.partRef[binary.LittleEndian.Uint16(child[8:])]
		if !ok {
			continue
		}
		_, fsize, fext, ok := x.entry(child, cpart)
		if !ok {
			continue
		}
		x.img.Files = append(x.img.Files, File{Path: prefix + name, Size: fsize, Extents: x.clamp(fext)})
	}
}

// clamp drops what lies past the image's end.
func (x *reader) clamp(ext []Extent) []Extent {
	out := ext[:0]
	for _, e := range ext {
		if e.Offset < 0 || (!e.Zero && e.Offset >= x.size) {
			continue
		}
		if !e.Zero {
			e.Size = min(e.Size, x.size-e.Offset)
		}
		out = append(out, e)
	}
	return out
}

// Open returns a reader of the file's bytes: its extents in order,
// unrecorded ones as zeros.
func (img *Image) Open(r io.ReaderAt, f File) io.Reader {
	rs := make([]io.Reader, 0, len(f.Extents))
	for _, e := range f.Extents {
		if e.Zero {
			rs = append(rs, pager.Zeros(e.Size))
		} else {
			rs = append(rs, io.NewSectionReader(r, e.Offset, e.Size))
		}
	}
	return io.MultiReader(rs...)
}

func tagID(d []byte) uint16 {
	if len(d) < 16 {
		return 0
	}
	return binary.LittleEndian.Uint16(d)
}

// tagOK checks a descriptor tag: its identifier, its checksum (the sum
// of its bytes but the fifth) and its location (the block it is in).
func tagOK(d []byte, id uint16, loc uint32) bool {
	if len(d) < 16 || binary.LittleEndian.Uint16(d) != id {
		return false
	}
	var s byte
	for i, c := range d[:16] {
		if i != 4 {
			s += c
		}
	}
	return s == d[4] && binary.LittleEndian.Uint32(d[12:]) == loc
}

// dstring is a fixed-size OSTA CS0 string whose last byte is its length.
func dstring(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	n := int(b[len(b)-1])
	if n > len(b)-1 {
		n = len(b) - 1
	}
	return dstringRaw(b[:n])
}

// dstringRaw decodes OSTA CS0: a compression ID (8: one byte a
// character; 16: UTF-16BE), then the characters.
func dstringRaw(b []byte) string {
	if len(b) < 1 {
		return ""
	}
	switch b[0] {
	case 8:
		r := make([]rune, 0, len(b)-1)
		for _, c := range b[1:] {
			r = append(r, rune(c))
		}
		return text.Clean(string(r)) // Clean drops the NUL padding
	case 16:
		return text.UTF16(b[1:], binary.BigEndian)
	}
	return ""
}
