package pefile

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Version is the StringFileInfo of a VS_VERSIONINFO resource: the first
// non-empty value of each key (the first string table wins, later ones
// fill gaps), each cleaned and at most 512 bytes. FileVersion falls back
// to VS_FIXEDFILEINFO's, as a.b.c.d.
type Version struct {
	Company          string // CompanyName
	Product          string // ProductName
	OriginalFileName string // OriginalFilename
	FileVersion      string // FileVersion
	Description      string // FileDescription
	InternalName     string // InternalName
	LegalCopyright   string // LegalCopyright
	ProductVersion   string // ProductVersion
}

const (
	rtVersion = 16
	// maxVersionReads bounds the directories and data entries read below
	// the resource root while looking for the version resource (an
	// honest file needs 3). A tree naming RT_VERSION 4096 times, each
	// with 8 names of 8 languages at one broken 64 KiB entry (a 36 KiB
	// file, TestHostile) took 11 s and 16 GB of allocations without it;
	// 4 ms and 1 MB with it.
	maxVersionReads = 32
)

// readVersion finds RT_VERSION in the resource tree (type, then name,
// then language: three levels, walked down only, so a looping tree
// cannot loop us) and reads the first sound VS_VERSIONINFO.
func (f *File) readVersion() {
	base := f.Dir(DirResource).VirtualAddress
	if base == 0 {
		return
	}
	reads := 0
	for _, t := range f.resEntries(base, 0) {
		if t.named || t.id != rtVersion || !t.dir {
			continue
		}
		if reads++; reads > maxVersionReads {
			return
		}
		for i, n := range f.resEntries(base, t.off) {
			if i >= 8 || !n.dir {
				break
			}
			if reads++; reads > maxVersionReads {
				return
			}
			for j, l := range f.resEntries(base, n.off) {
				if j >= 8 {
					break
				}
				if l.dir {
					continue
				}
				if reads++; reads > maxVersionReads {
					return
				}
				d := f.at(base+l.off, 16) // IMAGE_RESOURCE_DATA_ENTRY
				if d == nil {
					continue
				}
				rva := binary.LittleEndian.Uint32(d)
				size := min(int(binary.LittleEndian.Uint32(d[4:])), MaxVersionRes)
				off, ok := f.Offset(rva)
				if !ok {
					continue
				}
				buf := make([]byte, size)
				buf = buf[:f.p.Read(off, buf)]
				var v Version
				if parseVersionInfo(buf, &v) {
					f.Version = &v
					return
				}
			}
		}
	}
}

type resEntry struct {
	named bool
	id    uint32
	dir   bool
	off   uint32 // relative to the resource directory's start
}

// resEntries reads one IMAGE_RESOURCE_DIRECTORY (at base+rel) and its
// entries, at most MaxResEntries.
func (f *File) resEntries(base, rel uint32) []resEntry {
	h := f.at(base+rel, 16)
	if h == nil {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(h[12:])) + int(binary.LittleEndian.Uint16(h[14:]))
	n = min(n, MaxResEntries)
	b := f.at(base+rel+16, 8*n)
	if b == nil {
		return nil
	}
	out := make([]resEntry, n)
	for i := range out {
		name := binary.LittleEndian.Uint32(b[8*i:])
		data := binary.LittleEndian.Uint32(b[8*i+4:])
		out[i] = resEntry{named: name&0x80000000 != 0, id: name, dir: data&0x80000000 != 0, off: data &^ 0x80000000}
	}
	return out
}

// A version block: wLength, wValueLength, wType, a NUL-terminated UTF-16
// key, padding to 4, the value, padding to 4, child blocks. Offsets are
// kept relative to the resource's start, where the alignment is counted.
type verBlock struct {
	key            string
	val            []byte
	vstart         int // start of the value
	children, next int // start of the children; start of the next sibling
	end            int // end of this block
}

func align4(n int) int { return (n + 3) &^ 3 }

// verBlockAt parses the block at off, within limit; ok is false when
// there is no room for one.
func verBlockAt(b []byte, off, limit int) (blk verBlock, ok bool) {
	if off < 0 || off+6 > limit {
		return blk, false
	}
	length := int(binary.LittleEndian.Uint16(b[off:]))
	vlen := int(binary.LittleEndian.Uint16(b[off+2:]))
	typ := binary.LittleEndian.Uint16(b[off+4:])
	if length < 6 {
		return blk, false
	}
	end := min(off+length, limit)
	k := off + 6
	var key []uint16
	for ; k+2 <= end; k += 2 {
		c := binary.LittleEndian.Uint16(b[k:])
		if c == 0 {
			break
		}
		if len(key) < 64 {
			key = append(key, c)
		}
	}
	v := min(align4(k+2), end)
	vbytes := vlen
	if typ == 1 {
		vbytes = 2 * vlen
	}
	vend := min(v+vbytes, end)
	blk = verBlock{
		key:      string(utf16.Decode(key)),
		val:      b[v:vend],
		vstart:   v,
		children: min(align4(vend), end),
		next:     align4(off + length),
		end:      end,
	}
	return blk, true
}

// parseVersionInfo fills v from a VS_VERSIONINFO; it reports whether the
// resource was one (so a broken language entry lets the next one try).
// Every block is at least 6 bytes long and the walk is capped at 4096
// blocks, so a hostile resource ends.
func parseVersionInfo(b []byte, v *Version) bool {
	root, ok := verBlockAt(b, 0, len(b))
	if !ok || root.key != "VS_VERSION_INFO" {
		return false
	}
	fixed := ""
	if r := root.val; len(r) >= 24 && binary.LittleEndian.Uint32(r) == 0xFEEF04BD {
		ms, ls := binary.LittleEndian.Uint32(r[8:]), binary.LittleEndian.Uint32(r[12:])
		fixed = fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xffff, ls>>16, ls&0xffff)
	}
	steps := 0
	for off := root.children; off < root.end && steps < 4096; steps++ {
		sfi, ok := verBlockAt(b, off, root.end)
		if !ok {
			break
		}
		if sfi.key == "StringFileInfo" {
			for t := sfi.children; t < sfi.end && steps < 4096; steps++ {
				table, ok := verBlockAt(b, t, sfi.end)
				if !ok {
					break
				}
				for s := table.children; s < table.end && steps < 4096; steps++ {
					str, ok := verBlockAt(b, s, table.end)
					if !ok {
						break
					}
					// wValueLength is often wrong (bytes for words, with or
					// without the NUL): take the value up to the block's end.
					setVersionString(v, str.key, text.UTF16LE(b[str.vstart:str.end]))
					s = str.next
				}
				t = table.next
			}
		}
		off = sfi.next
	}
	if v.FileVersion == "" {
		v.FileVersion = fixed
	}
	return true
}

// setVersionString keeps the first non-empty value of each key.
func setVersionString(v *Version, key, val string) {
	if val == "" {
		return
	}
	var dst *string
	switch strings.ToLower(key) {
	case "companyname":
		dst = &v.Company
	case "productname":
		dst = &v.Product
	case "originalfilename":
		dst = &v.OriginalFileName
	case "fileversion":
		dst = &v.FileVersion
	case "filedescription":
		dst = &v.Description
	case "internalname":
		dst = &v.InternalName
	case "legalcopyright":
		dst = &v.LegalCopyright
	case "productversion":
		dst = &v.ProductVersion
	default:
		return
	}
	if *dst == "" {
		*dst = val
	}
}
