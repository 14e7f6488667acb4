// Package onenote finds the files embedded in a OneNote section
// ([MS-ONESTORE] 2.6.13, FileDataStoreObject): the 2023 lures hid an HTA,
// a script or an executable behind a "double click to view" picture, and
// OneNote runs it from there. Each object starts with a GUID and its
// length; the file's bytes follow a 20-byte header.
//
// The section's object graph is not walked: the GUID is searched in the
// raw bytes (a FileDataStoreObject may sit anywhere in the file). Scan
// reads at most maxRead bytes, in windows of Window bytes, keeps at most
// MaxFiles objects and never panics; an object claiming more bytes than
// the scanned region holds is cut there and marked so.
package onenote

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Bounds on one untrusted section.
const (
	MaxFiles = 4096    // embedded files kept
	Window   = 1 << 20 // bytes read at a time while searching
)

// FileDataGUID opens a FileDataStoreObject, {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}.
var FileDataGUID = []byte{0xE7, 0x16, 0xE3, 0xBD, 0x65, 0x26, 0x11, 0x45, 0xA4, 0xC4, 0x8D, 0x4D, 0x0B, 0x7A, 0x9E, 0xAC}

// header: GUID, cbLength (8), unused (4), reserved (8).
const header = 16 + 8 + 4 + 8

// Embedded is one FileDataStoreObject's content.
type Embedded struct {
	Offset int64 // where the file's bytes start
	Size   int64 // how many of them are in the scanned region
	Claims uint64
	Cut    bool // Claims is more than the region holds
}

// File is what Scan found.
type File struct {
	Files []Embedded
	// Truncated: the scan stopped at MaxFiles or at maxRead before the
	// end of the file.
	Truncated bool
}

// Scan searches the first min(size, maxRead) bytes of r. The next object
// is searched after the end of the one before, as OneNote lays them out:
// a FileDataStoreObject's content may itself hold the GUID (a OneNote
// file embedded in another) and that is the inner file's business.
func Scan(r io.ReaderAt, size, maxRead int64) *File {
	f := &File{}
	end := size
	if maxRead > 0 && maxRead < end {
		end = maxRead
		f.Truncated = true
	}
	// buf[:k] holds the file from base; the next object is looked for in
	// what it holds before it is read again (thousands of small objects
	// would otherwise each cost a window's read).
	buf := make([]byte, min(Window, max(end, 0)))
	var base int64
	k, short := 0, false
	for off := int64(0); off+header <= end; {
		if off < base || off >= base+int64(k) {
			n := int(min(int64(len(buf)), end-off))
			k, _ = r.ReadAt(buf[:n], off)
			base, short = off, k < n
		}
		i := bytes.Index(buf[off-base:k], FileDataGUID)
		if i < 0 {
			if short || base+int64(k) >= end {
				break
			}
			off = base + int64(k) - int64(len(FileDataGUID)) + 1 // a GUID across windows
			k = 0                                                // read from there
			continue
		}
		at := off + int64(i)
		if at+header > end {
			break
		}
		var l [8]byte
		if k, _ := r.ReadAt(l[:], at+16); k < 8 {
			break
		}
		if len(f.Files) >= MaxFiles {
			f.Truncated = true
			break
		}
		claims := binary.LittleEndian.Uint64(l[:])
		start := at + header
		e := Embedded{Offset: start, Size: end - start, Claims: claims}
		if claims <= uint64(end-start) {
			e.Size = int64(claims)
		} else {
			e.Cut = true
		}
		f.Files = append(f.Files, e)
		off = start + e.Size
	}
	return f
}
