// Package fatfs walks the directory tree of a FAT12, FAT16 or FAT32
// volume (what a VHD or a raw image attackers send usually holds: a
// shortcut and a DLL) and opens its files through their cluster chains,
// for the analyzers to type and examine each file like an archive entry.
// Long (VFAT) names are read when their checksum matches the short
// entry they precede, as Windows shows them; otherwise the short name.
//
// Bounded: the FAT read is at most MaxFATBytes (clusters past it end
// their chain, counted), the walk follows MaxDepth directory levels and
// keeps MaxEntries files, a directory is read up to MaxDirBytes, and
// every cluster chain stops at the cluster count, at its declared size
// and at the first repeated cluster (a loop). Deleted entries are not
// listed. Open never panics on any input.
package fatfs

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted volume.
const (
	MaxFATBytes = 8 << 20
	MaxDepth    = 64 // deep trees are cheap to make; MaxDirs and MaxDirTotal bound the walk
	MaxEntries  = 10000
	MaxDirBytes = 1 << 20
	MaxDirs     = 4096
	// MaxDirTotal bounds the directory bytes read in all.
	MaxDirTotal = 16 << 20
)

// Stats count what the bounds cut and what was malformed.
type Stats struct {
	// CutChains: chains ending early (a loop, a free, bad or outside
	// cluster, past the FAT read), of directories and of files read.
	CutChains   int
	Loops       int // of them, chains that came back to a cluster
	CutFAT      bool
	SkippedDirs int // directories not walked (depth, MaxDirs, a loop)
}

// File is one file of the volume.
type File struct {
	Path  string // "DIR/Long Name.ext"
	Size  int64  // bytes the directory entry gives
	first uint32 // its first cluster
}

// FS is an opened volume.
type FS struct {
	Type      int // 12, 16 or 32
	Label     string
	Files     []File
	Truncated bool // a bound stopped the walk (depth, entries, directories)
	Stats     Stats

	r           io.ReaderAt
	size        int64
	clusterSize int64
	dataStart   int64
	clusters    uint32 // data clusters, numbered from 2
	fat         []byte
	dirs        int
	dirBytes    int64
	seen        map[uint32]bool
}

// Open reads the FAT volume in the size bytes of r; nil when its boot
// sector is not one Windows would mount.
func Open(r io.ReaderAt, size int64) *FS {
	b := pager.ReadAt(r, size, 0, 512)
	if len(b) < 512 || (b[0] != 0xEB && b[0] != 0xE9) {
		return nil
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	reserved := int64(binary.LittleEndian.Uint16(b[14:]))
	nfats := int64(b[16])
	rootEnts := int64(binary.LittleEndian.Uint16(b[17:]))
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	fatSz := int64(binary.LittleEndian.Uint16(b[22:]))
	if fatSz == 0 {
		fatSz = int64(binary.LittleEndian.Uint32(b[36:]))
	}
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 || reserved == 0 ||
		nfats == 0 || fatSz == 0 || total == 0 {
		return nil
	}
	rootSectors := (rootEnts*32 + bps - 1) / bps
	dataSec := reserved + nfats*fatSz + rootSectors
	if dataSec >= total {
		return nil
	}
	// The FAT type: FAT32 when the 16-bit FAT size is zero, as Windows'
	// fastfat and Linux decide (mkfs.fat makes FAT32 volumes of a few
	// hundred clusters, and both mount them); else the cluster count's,
	// as Microsoft's specification says, not the label's.
	count := (total - dataSec) / spc
	f := &FS{r: r, size: size, clusterSize: bps * spc, dataStart: dataSec * bps, clusters: uint32(min(count, 1<<28)),
		seen: map[uint32]bool{}}
	switch {
	case binary.LittleEndian.Uint16(b[22:]) == 0:
		f.Type = 32
	case count < 4085:
		f.Type = 12
	default:
		f.Type = 16
	}
	fatBytes := fatSz * bps
	if need := (int64(f.clusters) + 2) * int64(f.Type) / 8; need+2 < fatBytes {
		fatBytes = need + 2 // the FAT's tail past the last cluster is never read
	}
	if fatBytes > MaxFATBytes {
		fatBytes, f.Stats.CutFAT, f.Truncated = MaxFATBytes, true, true
	}
	// FAT32 with mirroring off (BPB_ExtFlags bit 7) uses the FAT its low
	// bits name, and Windows follows that one: the others may be decoys.
	active := int64(0)
	if ext := binary.LittleEndian.Uint16(b[40:]); f.Type == 32 && ext&0x80 != 0 && int64(ext&0x0F) < nfats {
		active = int64(ext & 0x0F)
	}
	f.fat = pager.ReadAt(r, size, (reserved+active*fatSz)*bps, int(fatBytes))
	labelAt := 43
	if f.Type == 32 {
		labelAt = 71
		f.dir(binary.LittleEndian.Uint32(b[44:])&0x0FFFFFFF, "", 0)
	} else {
		// FAT12/16: the root directory is a fixed area before the data.
		root := pager.ReadAt(r, size, (reserved+nfats*fatSz)*bps, int(min(rootEnts*32, MaxDirBytes)))
		f.entries(root, "", 0)
	}
	if f.Label == "" && (b[labelAt-5] == 0x29 || b[labelAt-5] == 0x28) {
		f.Label = text.Clean(strings.TrimRight(string(b[labelAt:labelAt+11]), " "))
	}
	return f
}

// next is the FAT entry of cluster c; 0 when it is past the FAT read.
func (f *FS) next(c uint32) uint32 {
	switch f.Type {
	case 12:
		o := int(c) + int(c)/2
		if o+2 > len(f.fat) {
			return 0
		}
		v := binary.LittleEndian.Uint16(f.fat[o:])
		if c&1 != 0 {
			return uint32(v >> 4)
		}
		return uint32(v & 0xFFF)
	case 16:
		if int(c)*2+2 > len(f.fat) {
			return 0
		}
		return uint32(binary.LittleEndian.Uint16(f.fat[c*2:]))
	}
	if int(c)*4+4 > len(f.fat) {
		return 0
	}
	return binary.LittleEndian.Uint32(f.fat[c*4:]) & 0x0FFFFFFF
}

// eoc is the smallest end-of-chain mark.
func (f *FS) eoc() uint32 {
	switch f.Type {
	case 12:
		return 0xFF8
	case 16:
		return 0xFFF8
	}
	return 0x0FFFFFF8
}

// chain follows a cluster chain one cluster at a time, and stops at a
// cluster outside the volume (free, reserved, bad) or one already
// visited (a loop). A chain that only goes up cannot loop, and most do
// (files written in one go): the set of visited clusters is built at
// the first step down, by walking again the ascending part.
type chain struct {
	f        *FS
	first, c uint32
	n        int64 // clusters returned
	last     uint32
	seen     map[uint32]bool
	end, cut bool
}

func (f *FS) chain(first uint32) *chain { return &chain{f: f, first: first, c: first} }

// next returns the next cluster, false at the end of the chain.
func (w *chain) next() (uint32, bool) {
	if w.end {
		return 0, false
	}
	c := w.c
	if c < 2 || c >= w.f.clusters+2 {
		w.stop(false)
		return 0, false
	}
	if w.seen == nil && w.n > 0 && c <= w.last {
		w.seen = map[uint32]bool{}
		for x, i := w.first, int64(0); i < w.n; i++ {
			w.seen[x] = true
			x = w.f.next(x)
		}
	}
	if w.seen != nil {
		if w.seen[c] {
			w.stop(true)
			return 0, false
		}
		w.seen[c] = true
	}
	w.last = c
	w.n++
	if n := w.f.next(c); n >= w.f.eoc() {
		w.end = true
	} else {
		w.c = n
	}
	return c, true
}

func (w *chain) stop(loop bool) {
	w.end, w.cut = true, true
	w.f.Stats.CutChains++
	if loop {
		w.f.Stats.Loops++
	}
}

func (f *FS) clusterOff(c uint32) int64 { return f.dataStart + int64(c-2)*f.clusterSize }

// dir reads the directory whose chain starts at first.
func (f *FS) dir(first uint32, prefix string, depth int) {
	if depth > MaxDepth || f.dirs >= MaxDirs || f.seen[first] {
		f.Stats.SkippedDirs++
		f.Truncated = f.Truncated || !f.seen[first]
		return
	}
	f.seen[first] = true
	f.dirs++
	var b []byte
	for w := f.chain(first); len(b) < MaxDirBytes; {
		c, ok := w.next()
		if !ok {
			break
		}
		if f.dirBytes >= MaxDirTotal {
			f.Truncated = true
			break
		}
		f.dirBytes += f.clusterSize
		b = append(b, pager.ReadAt(f.r, f.size, f.clusterOff(c), int(f.clusterSize))...)
	}
	f.entries(b, prefix, depth)
}

// entries reads 32-byte directory entries, long name entries first.
func (f *FS) entries(b []byte, prefix string, depth int) {
	var lfn []byte // the long name's UTF-16LE, parts in order
	var lfnSum byte
	lfnOK := false
	for off := 0; off+32 <= len(b); off += 32 {
		e := b[off : off+32]
		if e[0] == 0 {
			return // the end of the directory
		}
		if e[0] == 0xE5 {
			lfnOK = false
			continue // deleted
		}
		attr := e[11]
		if attr&0x3F == 0x0F { // a long name part: the last part comes first
			seq := e[0] & 0x1F
			if e[0]&0x40 != 0 {
				lfn, lfnSum, lfnOK = nil, e[13], seq > 0
			} else if !lfnOK || e[13] != lfnSum {
				lfnOK = false
				continue
			}
			// Its 13 UTF-16LE characters lie in three runs of the entry.
			part := make([]byte, 0, 26)
			part = append(append(append(part, e[1:11]...), e[14:26]...), e[28:32]...)
			lfn = append(part, lfn...)
			if len(lfn) > 20*26 {
				lfnOK = false
			}
			continue
		}
		long := ""
		if lfnOK && checksum(e[:11]) == lfnSum {
			long = text.UTF16LE(lfn)
		}
		lfnOK = false
		if attr&0x08 != 0 { // the volume label
			if depth == 0 && attr&0x10 == 0 && f.Label == "" {
				f.Label = text.Clean(strings.TrimRight(string(e[:11]), " "))
			}
			continue
		}
		name := long
		if name == "" {
			name = shortName(e)
		}
		if name == "." || name == ".." || name == "" {
			continue
		}
		first := uint32(binary.LittleEndian.Uint16(e[26:]))
		if f.Type == 32 {
			first |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		if attr&0x10 != 0 {
			f.dir(first, prefix+name+"/", depth+1)
			continue
		}
		if len(f.Files) >= MaxEntries {
			f.Truncated = true
			return
		}
		f.Files = append(f.Files, File{Path: prefix + name, Size: int64(binary.LittleEndian.Uint32(e[28:])), first: first})
	}
}

// Open returns a reader of the file's bytes, following its chain as it
// reads. A chain that ends before the file's size (or loops) ends the
// reader early with io.EOF and is counted in Stats.CutChains.
func (f *FS) Open(file File) io.Reader {
	return &reader{f: f, w: f.chain(file.first), left: file.Size, in: f.clusterSize}
}

type reader struct {
	f    *FS
	w    *chain
	c    uint32
	in   int64 // offset inside cluster c
	left int64
}

func (r *reader) Read(p []byte) (int, error) {
	if r.left <= 0 || len(p) == 0 {
		return 0, io.EOF
	}
	if r.in == r.f.clusterSize {
		c, ok := r.w.next()
		if !ok {
			if !r.w.cut {
				r.f.Stats.CutChains++ // ended before the size
			}
			r.left = 0
			return 0, io.EOF
		}
		r.c, r.in = c, 0
	}
	n := min(int64(len(p)), r.left, r.f.clusterSize-r.in)
	k, _ := r.f.r.ReadAt(p[:n], r.f.clusterOff(r.c)+r.in)
	if k < int(n) {
		r.left = 0 // the volume ends inside the file
		return k, io.EOF
	}
	r.in += n
	r.left -= n
	return k, nil
}

// checksum is the short name's checksum its long name parts carry.
func checksum(short []byte) byte {
	var s byte
	for _, c := range short {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// shortName is the 8.3 name, lowercased where Windows NT's flags say.
func shortName(e []byte) string {
	base := strings.TrimRight(string(e[:8]), " ")
	ext := strings.TrimRight(string(e[8:11]), " ")
	if base != "" && base[0] == 0x05 {
		base = "\xE5" + base[1:] // a name starting with 0xE5 is stored as 0x05
	}
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	if ext != "" {
		base += "." + ext
	}
	return text.Clean(base)
}
