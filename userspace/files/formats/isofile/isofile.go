// Package isofile lists the files of an ISO 9660 image (the disk images
// that mount with a double click and carried much of the malware that
// followed the blocking of Office macros): the primary volume's
// directory tree, read through bounded reads, for the analyzers to type
// and examine each file. Joliet and Rock Ridge names are not read: the
// level 1/2 names of the primary tree are enough to type by content.
//
// Parse never panics, follows at most MaxDepth directory levels and
// MaxEntries entries, reads each directory up to MaxDirBytes, and
// ignores entries whose extent lies outside the image (a crafted image
// may point anywhere).
package isofile

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Bounds on one untrusted image.
const (
	MaxDepth    = 8
	MaxEntries  = 10000
	MaxDirBytes = 1 << 20
	sector      = 2048
)

// Entry is one file of the image.
type Entry struct {
	Path   string // "DIR/NAME.EXT", version (";1") cut
	Offset int64  // where its bytes start in the image
	Size   int64
}

// Image is what Parse found.
type Image struct {
	VolumeID string
	Files    []Entry
	// Truncated: a bound stopped the walk (depth, entries, a directory's
	// size); the list is what was read before.
	Truncated bool
}

// Parse reads the image in the size bytes of r; nil when there is no
// primary volume descriptor at sector 16.
func Parse(r io.ReaderAt, size int64) *Image {
	pvd := read(r, size, 16*sector, sector)
	if len(pvd) < 190 || pvd[0] != 1 || string(pvd[1:6]) != "CD001" { // an image cut inside its descriptor too
		return nil
	}
	img := &Image{VolumeID: text.Clean(strings.TrimRight(string(pvd[40:72]), " "))}
	root := pvd[156:190]
	w := walker{r: r, size: size, img: img, seen: map[uint32]bool{}}
	w.dir(binary.LittleEndian.Uint32(root[2:]), binary.LittleEndian.Uint32(root[10:]), "", 0)
	return img
}

type walker struct {
	r    io.ReaderAt
	size int64
	img  *Image
	seen map[uint32]bool // directory extents read: a loop ends there
}

func (w *walker) dir(extent, length uint32, prefix string, depth int) {
	if depth > MaxDepth || w.seen[extent] {
		w.img.Truncated = w.img.Truncated || depth > MaxDepth
		return
	}
	w.seen[extent] = true
	if length > MaxDirBytes {
		length = MaxDirBytes
		w.img.Truncated = true
	}
	b := read(w.r, w.size, int64(extent)*sector, int(length))
	if b == nil {
		return
	}
	for off := 0; off < len(b); {
		n := int(b[off])
		if n == 0 { // records do not cross sectors: on to the next one
			off = (off/sector + 1) * sector
			continue
		}
		if n < 34 || off+n > len(b) {
			return
		}
		rec := b[off : off+n]
		off += n
		idLen := int(rec[32])
		if 33+idLen > n {
			continue
		}
		id := rec[33 : 33+idLen]
		if idLen == 1 && (id[0] == 0 || id[0] == 1) {
			continue // . and ..
		}
		if len(w.img.Files) >= MaxEntries {
			w.img.Truncated = true
			return
		}
		name := string(id)
		if i := strings.IndexByte(name, ';'); i >= 0 {
			name = name[:i]
		}
		name = strings.TrimSuffix(text.Clean(name), ".")
		ext := binary.LittleEndian.Uint32(rec[2:])
		sz := binary.LittleEndian.Uint32(rec[10:])
		if rec[25]&2 != 0 {
			w.dir(ext, sz, prefix+name+"/", depth+1)
			continue
		}
		start := int64(ext) * sector
		if start >= w.size {
			continue
		}
		w.img.Files = append(w.img.Files, Entry{Path: prefix + name, Offset: start, Size: min(int64(sz), w.size-start)})
	}
}

func read(r io.ReaderAt, size, off int64, n int) []byte {
	if off < 0 || n <= 0 || off >= size {
		return nil
	}
	n = int(min(int64(n), size-off))
	b := make([]byte, n)
	if k, _ := r.ReadAt(b, off); k < n {
		return nil
	}
	return b
}
