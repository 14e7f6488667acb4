// Package chmfile lists the files of a compiled HTML help file (CHM,
// the ITSF container hh.exe opens): the ITSF header, the ITSP directory
// header and its PMGL listing chunks, each entry a name, a content
// section and a place in it. Files in section 0 (stored uncompressed)
// can be read; files in section 1 (LZX-compressed, where most of a CHM's
// pages are) are listed by name only: their content is not decompressed.
// A CHM runs its pages' scripts and ActiveX controls with the user's
// rights, and has carried executables and scripts in its own storage.
//
// The layout read is the one documented by the CHM reverse engineering
// notes (Russotto, "Microsoft's HTML Help (.chm) format"). Bounded: at
// most MaxChunks listing chunks of at most MaxChunkSize bytes (and
// MaxDirBytes in all), each
// read once whatever the chain says (no loops), MaxEntries entries,
// names of MaxName bytes; an entry of section 0 outside the file is
// marked, not read. Parse never panics.
package chmfile

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted file.
const (
	MaxChunks    = 4096
	MaxChunkSize = 64 << 10
	MaxDirBytes  = 16 << 20 // listing bytes read in all
	MaxEntries   = 10000
	MaxName      = 1024
)

// Entry is one file (or directory, whose name ends in "/") of the CHM.
type Entry struct {
	Name    string // "/index.html", "::DataSpace/NameList"
	Section int    // 0: stored; 1: LZX-compressed
	// Offset is where the content starts in the CHM file (section 0),
	// or in the section (others).
	Offset, Size int64
	// Outside: a section 0 entry that lies past the file's end (cut to
	// what is there: Size is what can be read).
	Outside bool
}

// Readable reports whether the entry's content can be read from the file.
func (e Entry) Readable() bool { return e.Section == 0 && !strings.HasSuffix(e.Name, "/") }

// File is what Parse found.
type File struct {
	Version   uint32
	Entries   []Entry
	Chunks    int  // listing chunks read
	Truncated bool // a bound stopped the listing
	BadChunks int  // chunks that were not PMGL/PMGI or ended inside an entry
}

// Parse reads the CHM in the size bytes of r; nil when the ITSF or ITSP
// header is not there.
func Parse(r io.ReaderAt, size int64) *File {
	h := pager.ReadAt(r, size, 0, 0x60)
	if len(h) < 0x58 || string(h[:4]) != "ITSF" {
		return nil
	}
	f := &File{Version: binary.LittleEndian.Uint32(h[4:])}
	dirOff := int64(binary.LittleEndian.Uint64(h[0x48:]) & (1<<62 - 1))
	dirLen := int64(binary.LittleEndian.Uint64(h[0x50:]) & (1<<62 - 1))
	sec0 := dirOff + dirLen // version 2: content follows the directory
	if f.Version >= 3 && len(h) >= 0x60 {
		sec0 = int64(binary.LittleEndian.Uint64(h[0x58:]) & (1<<62 - 1))
	}
	d := pager.ReadAt(r, size, dirOff, 0x54)
	if len(d) < 0x54 || string(d[:4]) != "ITSP" {
		return nil
	}
	hdrLen := int64(binary.LittleEndian.Uint32(d[8:]))
	cs := int64(binary.LittleEndian.Uint32(d[0x10:]))
	n := int64(binary.LittleEndian.Uint32(d[0x2C:]))
	if cs < 0x20 || cs > MaxChunkSize || hdrLen < 0x54 || hdrLen > 1<<16 {
		return f
	}
	if n > MaxChunks || n*cs > MaxDirBytes {
		n, f.Truncated = min(MaxChunks, MaxDirBytes/cs), true
	}
	// Every chunk is read once, in order: the PMGL chain (prev/next)
	// links the same chunks, and following it could loop.
	for i := int64(0); i < n && len(f.Entries) < MaxEntries; i++ {
		c := pager.ReadAt(r, size, dirOff+hdrLen+i*cs, int(cs))
		if int64(len(c)) < cs {
			f.BadChunks++
			break // the directory is cut by the file's end
		}
		f.Chunks++
		switch string(c[:4]) {
		case "PMGL":
			f.listing(c, sec0, size)
		case "PMGI": // the index: it repeats names the listing has
		default:
			f.BadChunks++
		}
	}
	return f
}

// listing reads a PMGL chunk's entries: ENCINT name length, name,
// ENCINT section, offset and length.
func (f *File) listing(c []byte, sec0, size int64) {
	free := int(binary.LittleEndian.Uint32(c[4:]))
	end := len(c) - free
	if free < 0 || end < 0x14 || end > len(c) {
		end = len(c)
	}
	for p := 0x14; p < end; {
		nl, k := encint(c[p:end])
		if k != 0 && nl == 0 {
			return // padding
		}
		if k == 0 || nl > MaxName || p+k+int(nl) > end {
			f.BadChunks++
			return
		}
		p += k
		name := string(c[p : p+int(nl)])
		p += int(nl)
		var v [3]uint64
		for j := range v {
			x, k := encint(c[p:end])
			if k == 0 {
				f.BadChunks++
				return
			}
			v[j], p = x, p+k
		}
		if len(f.Entries) >= MaxEntries {
			f.Truncated = true
			return
		}
		e := Entry{Name: text.Clean(name), Section: int(min(v[0], 1<<20)), Offset: int64(min(v[1], 1<<62)), Size: int64(min(v[2], 1<<62))}
		if e.Section == 0 {
			e.Offset += sec0
			if e.Offset < 0 || e.Offset > size || e.Size > size-e.Offset {
				e.Outside = true
				e.Offset = min(max(e.Offset, 0), size)
				e.Size = size - e.Offset
			}
		}
		f.Entries = append(f.Entries, e)
	}
}

// encint is a big-endian base-128 integer, high bit set on all bytes
// but the last; k is 0 when it is cut or longer than 63 bits.
func encint(b []byte) (v uint64, k int) {
	for k < len(b) && k < 9 {
		c := b[k]
		v = v<<7 | uint64(c&0x7F)
		k++
		if c&0x80 == 0 {
			return v, k
		}
	}
	return 0, 0
}
