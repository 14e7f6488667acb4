// Package ntfsfs lists the files of an NTFS volume (what a VHD or VHDX
// made on Windows holds) from its master file table, and opens their
// unnamed $DATA: resident content (small files, inside the record) and
// non-resident content through its data runs (fragmented or not, sparse
// runs as zeros). Each MFT record is read once, its update sequence
// fixups applied; names come from $FILE_NAME (the Win32 name rather than
// the DOS 8.3 one), paths from the parent references up to the root.
//
// Not read: compressed and encrypted $DATA, and files behind a reparse
// point (WOF compression, deduplication: the file is listed, its
// content not: Stats.Unreadable), attribute lists (a file whose
// attributes overflow its record: its $DATA may be elsewhere,
// Stats.AttrLists), named streams (alternate data streams), the
// system files ($MFT, $LogFile... and what is under $Extend), deleted
// records, and the directory indexes (the MFT is read instead, as
// forensic tools do: a file is listed if its record is in use).
//
// Bounded: at most MaxRecords records (and MaxMFTBytes), MaxRuns data runs a file,
// MaxEntries files, path depth MaxDepth (deeper paths are cut, the file
// still listed, and counted). Open never
// panics on any input.
package ntfsfs

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted volume.
const (
	MaxRecords  = 16384    // MFT records read
	MaxMFTBytes = 16 << 20 // and at most this much of the MFT
	MaxRuns     = 256
	MaxEntries  = 10000
	MaxDepth    = 32
	// firstUser: records 0 to 15 are the metafiles and reserved; 16 to
	// 23 hold $MFT extension records (not base records, skipped), but a
	// base record there in use is a file Windows lists like any other.
	firstUser  = 16
	rootRecord = 5
)

// Run is a piece of a file's content on the volume; Sparse reads as zeros.
type Run struct {
	Offset, Size int64
	Sparse       bool
}

// File is one file of the volume.
type File struct {
	Path string
	Size int64 // the unnamed $DATA's size
	// Init is how much of it was written (the rest reads as zeros).
	Init     int64
	Resident []byte // the content, when it is in the record
	Runs     []Run  // else where it is
	// Readable is false for compressed or encrypted content, or when no
	// $DATA was found in the base record.
	Readable bool
}

// Stats count what was not read.
type Stats struct {
	BadRecords int // not FILE, fixups that do not match
	Unreadable int // compressed or encrypted $DATA, or behind a reparse point
	AttrLists  int // records with an attribute list
	CutRuns    int // run lists cut (MaxRuns, outside the volume, malformed)
	DeepPaths  int // files deeper than MaxDepth (or a parent loop): listed, path cut
}

// FS is an opened volume.
type FS struct {
	Label     string
	Files     []File
	Truncated bool // MaxRecords or MaxEntries stopped the listing
	Stats     Stats

	r           io.ReaderAt
	size        int64
	clusterSize int64
	recordSize  int64
}

type node struct {
	name   string
	parent uint64
	dir    bool
}

// Open reads the NTFS volume in the size bytes of r; nil when its boot
// sector is not NTFS or its $MFT cannot be found.
func Open(r io.ReaderAt, size int64) *FS {
	b := pager.ReadAt(r, size, 0, 512)
	if len(b) < 512 || string(b[3:11]) != "NTFS    " {
		return nil
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	if spc > 0x80 { // a negative power of two: clusters past 64 KiB
		spc = 1 << (256 - spc)
	}
	if bps < 256 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc > 1<<16 || spc&(spc-1) != 0 {
		return nil
	}
	f := &FS{r: r, size: size, clusterSize: bps * spc}
	switch c := int8(b[64]); {
	case c < 0 && c >= -20:
		f.recordSize = 1 << uint(-c)
	case c > 0:
		f.recordSize = int64(c) * f.clusterSize
	}
	if f.recordSize < 512 || f.recordSize > 64<<10 || f.recordSize%512 != 0 {
		return nil
	}
	mftLCN := int64(binary.LittleEndian.Uint64(b[48:]) & (1<<48 - 1))
	rec0 := f.record(mftLCN*f.clusterSize, 0)
	if rec0 == nil {
		return nil
	}
	// Where the MFT lies: $MFT's own $DATA runs.
	mft := f.data(rec0)
	if mft == nil || len(mft.Runs) == 0 {
		return nil
	}
	nodes := map[uint64]node{}
	type pending struct {
		rec  uint64
		file File
	}
	var files []pending
	n := int64(0)
	for _, run := range mft.Runs {
		for o := int64(0); o+f.recordSize <= run.Size && n*f.recordSize < mft.Size; o += f.recordSize {
			if n >= MaxRecords || n*f.recordSize >= MaxMFTBytes {
				f.Truncated = true
				break
			}
			rn := uint64(n)
			n++
			if run.Sparse {
				continue
			}
			rec := f.record(run.Offset+o, rn)
			if rec == nil {
				continue
			}
			flags := binary.LittleEndian.Uint16(rec[22:])
			if flags&1 == 0 || binary.LittleEndian.Uint64(rec[32:])&(1<<48-1) != 0 {
				continue // not in use, or an extension record of another
			}
			name, parent, ok := f.fileName(rec)
			if rn == 3 { // $Volume: the label
				f.Label = f.volumeName(rec)
			}
			if !ok {
				continue
			}
			nodes[rn] = node{name: name, parent: parent, dir: flags&2 != 0}
			if flags&2 != 0 || rn < firstUser {
				continue
			}
			files = append(files, pending{rn, f.content(rec)})
		}
	}
	for _, p := range files {
		path, ok, deep := pathOf(nodes, p.rec)
		if !ok {
			continue
		}
		if deep {
			f.Stats.DeepPaths++
			f.Truncated = true
		}
		if len(f.Files) >= MaxEntries {
			f.Truncated = true
			break
		}
		p.file.Path = path
		f.Files = append(f.Files, p.file)
	}
	return f
}

// pathOf climbs the parent references to the root; false for the
// system's files (records below firstUser, and what is under $Extend)
// and for a chain that does not reach the root. A path deeper than
// MaxDepth (or a parent loop) keeps its last MaxDepth names after
// ".../", deep set: Windows shows files however deep, and a payload
// put deep must still be read.
func pathOf(nodes map[uint64]node, rn uint64) (path string, ok, deep bool) {
	var parts []string
	top := rn // the record of the path's first name
	for i := 0; ; i++ {
		nd, ok := nodes[rn]
		if !ok {
			return "", false, false
		}
		if rn == rootRecord {
			if len(parts) == 0 || top < firstUser { // a user's "$name" is the user's
				return "", false, false
			}
			break
		}
		if i == MaxDepth {
			parts = append(parts, "...")
			deep = true
			break
		}
		parts = append(parts, nd.name)
		top, rn = rn, nd.parent
	}
	for l, r := 0, len(parts)-1; l < r; l, r = l+1, r-1 {
		parts[l], parts[r] = parts[r], parts[l]
	}
	return strings.Join(parts, "/"), true, deep
}

// record reads the MFT record at off and applies its fixups: the last
// two bytes of each 512-byte stride hold the update sequence number,
// and the real bytes are in the update sequence array.
func (f *FS) record(off int64, rn uint64) []byte {
	b := pager.ReadAt(f.r, f.size, off, int(f.recordSize))
	if int64(len(b)) < f.recordSize || string(b[:4]) != "FILE" {
		if len(b) >= 4 && string(b[:4]) != "\x00\x00\x00\x00" {
			f.Stats.BadRecords++
		}
		return nil
	}
	usaOff, usaN := int(binary.LittleEndian.Uint16(b[4:])), int(binary.LittleEndian.Uint16(b[6:]))
	if usaN < 1 || usaOff+2*usaN > len(b) || (usaN-1)*512 > len(b) {
		f.Stats.BadRecords++
		return nil
	}
	usn := b[usaOff : usaOff+2]
	for i := 1; i < usaN; i++ {
		end := i*512 - 2
		if b[end] != usn[0] || b[end+1] != usn[1] {
			f.Stats.BadRecords++
			return nil // a torn write: Windows would not use it either
		}
		b[end], b[end+1] = b[usaOff+2*i], b[usaOff+2*i+1]
	}
	return b
}

// attrs calls fn on each attribute of the record; fn returns false to stop.
func attrs(rec []byte, fn func(typ uint32, a []byte) bool) {
	p := int(binary.LittleEndian.Uint16(rec[20:]))
	used := min(int(binary.LittleEndian.Uint32(rec[24:])), len(rec))
	for i := 0; i < 256 && p+16 <= used; i++ {
		typ := binary.LittleEndian.Uint32(rec[p:])
		l := int(binary.LittleEndian.Uint32(rec[p+4:]))
		if typ == 0xFFFFFFFF || l < 16 || l%8 != 0 || p+l > used {
			return
		}
		if !fn(typ, rec[p:p+l]) {
			return
		}
		p += l
	}
}

// resident is a resident attribute's value.
func resident(a []byte) ([]byte, bool) {
	if a[8] != 0 || len(a) < 24 {
		return nil, false
	}
	vl, vo := int(binary.LittleEndian.Uint32(a[16:])), int(binary.LittleEndian.Uint16(a[20:]))
	if vo+vl > len(a) || vl < 0 {
		return nil, false
	}
	return a[vo : vo+vl], true
}

// fileName is the record's best $FILE_NAME (Win32 over DOS) and its
// parent's record number.
func (f *FS) fileName(rec []byte) (name string, parent uint64, ok bool) {
	best := -1
	attrs(rec, func(typ uint32, a []byte) bool {
		if typ == 0x20 {
			f.Stats.AttrLists++
		}
		if typ != 0x30 {
			return true
		}
		v, isRes := resident(a)
		if !isRes || len(v) < 66 || 66+2*int(v[64]) > len(v) {
			return true
		}
		ns := int(v[65])
		rank := 0
		if ns < 4 {
			rank = [4]int{2, 3, 1, 3}[ns] // POSIX, Win32, DOS, Win32&DOS
		}
		if rank > best {
			best = rank
			name = text.UTF16(v[66:66+2*int(v[64])], binary.LittleEndian)
			parent = binary.LittleEndian.Uint64(v) & (1<<48 - 1)
			ok = name != ""
		}
		return true
	})
	return
}

// volumeName is $Volume's $VOLUME_NAME.
func (f *FS) volumeName(rec []byte) (s string) {
	attrs(rec, func(typ uint32, a []byte) bool {
		if typ == 0x60 {
			if v, ok := resident(a); ok {
				s = text.UTF16(v, binary.LittleEndian)
			}
			return false
		}
		return true
	})
	return s
}

// content is a file record's unnamed $DATA. A file behind a reparse
// point (WOF-compressed by "compact /exe", deduplicated, a cloud
// placeholder) is what its filter makes of it: the unnamed $DATA is
// sparse or empty and the bytes are elsewhere (a named stream, a chunk
// store). It is listed unreadable and counted, never read as zeros.
func (f *FS) content(rec []byte) File {
	d := f.data(rec)
	fl := File{}
	if d != nil {
		fl = *d
	}
	reparse := false
	attrs(rec, func(typ uint32, a []byte) bool {
		reparse = typ == 0xC0
		return !reparse
	})
	if reparse && fl.Readable {
		fl.Readable = false
		f.Stats.Unreadable++
	}
	return fl
}

// data reads the record's unnamed $DATA attribute.
func (f *FS) data(rec []byte) *File {
	var out *File
	attrs(rec, func(typ uint32, a []byte) bool {
		if typ != 0x80 || a[9] != 0 { // named streams are not the file's content
			return true
		}
		out = &File{}
		flags := binary.LittleEndian.Uint16(a[12:])
		if a[8] == 0 {
			v, ok := resident(a)
			if ok {
				out.Resident = append([]byte{}, v...)
				out.Size = int64(len(v))
				out.Init = out.Size
				out.Readable = flags&0x4001 == 0
			}
		} else if len(a) >= 64 {
			out.Size = int64(binary.LittleEndian.Uint64(a[48:]) & (1<<62 - 1))
			out.Init = min(int64(binary.LittleEndian.Uint64(a[56:])&(1<<62-1)), out.Size)
			if binary.LittleEndian.Uint64(a[16:]) != 0 {
				return false // not the first piece: an attribute list's business
			}
			out.Runs = f.runs(a[min(int(binary.LittleEndian.Uint16(a[32:])), len(a)):], out.Size)
			out.Readable = flags&0x4001 == 0 && out.Runs != nil
		}
		if flags&0x4001 != 0 {
			f.Stats.Unreadable++
		}
		return false
	})
	return out
}

// runs decodes a data run list: a header byte (length and offset field
// sizes), the run's length in clusters, its start relative to the one
// before (signed; absent for a sparse run). Runs beyond size are cut.
func (f *FS) runs(b []byte, size int64) []Run {
	var out []Run
	lcn := int64(0)
	total := int64(0)
	for p := 0; p < len(b) && b[p] != 0 && total < size; {
		ls, os := int(b[p]&0x0F), int(b[p]>>4)
		p++
		if ls == 0 || ls > 8 || os > 8 || p+ls+os > len(b) || len(out) >= MaxRuns {
			f.Stats.CutRuns++
			return out
		}
		n := int64(le(b[p:p+ls], false))
		p += ls
		if n <= 0 || n > f.size/f.clusterSize+1 {
			f.Stats.CutRuns++
			return out
		}
		r := Run{Size: min(n*f.clusterSize, size-total)}
		if os == 0 {
			r.Sparse = true
		} else {
			lcn += le(b[p:p+os], true)
			p += os
			if lcn < 0 || lcn >= f.size/f.clusterSize+1 { // before the product can overflow
				f.Stats.CutRuns++
				return out
			}
			r.Offset = lcn * f.clusterSize
			if r.Offset >= f.size {
				f.Stats.CutRuns++
				return out
			}
			r.Size = min(r.Size, f.size-r.Offset)
		}
		total += r.Size
		out = append(out, r)
	}
	return out
}

// le is a little-endian integer of 1 to 8 bytes, sign-extended if signed.
func le(b []byte, signed bool) int64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if signed && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * len(b))
	}
	return int64(v)
}

// Open returns a reader of the file's content (empty when it is not
// readable).
func (f *FS) Open(file File) io.Reader {
	if !file.Readable {
		return strings.NewReader("")
	}
	if file.Resident != nil {
		return strings.NewReader(string(file.Resident))
	}
	rs := make([]io.Reader, 0, len(file.Runs))
	for _, r := range file.Runs {
		if r.Sparse {
			rs = append(rs, pager.Zeros(r.Size))
		} else {
			rs = append(rs, io.NewSectionReader(f.r, r.Offset, r.Size))
		}
	}
	// Past the initialized size Windows reads zeros, whatever the
	// clusters hold.
	return io.MultiReader(io.LimitReader(io.MultiReader(rs...), file.Init), pager.Zeros(file.Size-file.Init))
}
