package filetype

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

const rtVersion = 16

// versionInfo finds RT_VERSION in the resource tree (type, then name,
// then language: three levels, walked down only, so a looping tree
// cannot loop us) and reads its StringFileInfo into m.
func (pf *peFile) versionInfo(m *PEMeta) {
	base := pf.dirs[2].rva
	if base == 0 {
		return
	}
	types := pf.resEntries(base, 0)
	for _, t := range types {
		if t.named || t.id != rtVersion || !t.dir {
			continue
		}
		names := pf.resEntries(base, t.off)
		for i, n := range names {
			if i >= 8 || !n.dir {
				break
			}
			for j, l := range pf.resEntries(base, n.off) {
				if j >= 8 {
					break
				}
				if l.dir {
					continue
				}
				d := pf.at(base+l.off, 16) // IMAGE_RESOURCE_DATA_ENTRY
				if d == nil {
					continue
				}
				rva := binary.LittleEndian.Uint32(d)
				size := min(int(binary.LittleEndian.Uint32(d[4:])), maxVersionRes)
				off, ok := pf.offset(rva)
				if !ok {
					continue
				}
				buf := make([]byte, size)
				buf = buf[:pf.p.read(off, buf)]
				if parseVersionInfo(buf, m) {
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
// entries, at most maxResEntries.
func (pf *peFile) resEntries(base, rel uint32) []resEntry {
	h := pf.at(base+rel, 16)
	if h == nil {
		return nil
	}
	n := int(binary.LittleEndian.Uint16(h[12:])) + int(binary.LittleEndian.Uint16(h[14:]))
	n = min(n, maxResEntries)
	b := pf.at(base+rel+16, 8*n)
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

// parseVersionInfo fills m from a VS_VERSIONINFO; it reports whether the
// resource was one (so a broken language entry lets the next one try).
func parseVersionInfo(b []byte, m *PEMeta) bool {
	root, ok := verBlockAt(b, 0, len(b))
	if !ok || root.key != "VS_VERSION_INFO" {
		return false
	}
	fixed := ""
	if v := root.val; len(v) >= 24 && binary.LittleEndian.Uint32(v) == 0xFEEF04BD {
		ms, ls := binary.LittleEndian.Uint32(v[8:]), binary.LittleEndian.Uint32(v[12:])
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
					setVersionString(m, str.key, utf16String(b[str.vstart:str.end]))
					s = str.next
				}
				t = table.next
			}
		}
		off = sfi.next
	}
	if m.FileVersion == "" {
		m.FileVersion = fixed
	}
	return true
}

// setVersionString keeps the first non-empty value of each key (the
// first string table wins; later ones fill gaps).
func setVersionString(m *PEMeta, key, val string) {
	if val == "" {
		return
	}
	var dst *string
	switch strings.ToLower(key) {
	case "companyname":
		dst = &m.Company
	case "productname":
		dst = &m.Product
	case "originalfilename":
		dst = &m.OriginalFileName
	case "fileversion":
		dst = &m.FileVersion
	case "filedescription":
		dst = &m.Description
	case "internalname":
		dst = &m.InternalName
	case "legalcopyright":
		dst = &m.LegalCopyright
	case "productversion":
		dst = &m.ProductVersion
	default:
		return
	}
	if *dst == "" {
		*dst = val
	}
}

// utf16String decodes UTF-16LE up to the first NUL, at most maxValue
// bytes of output, trimmed.
func utf16String(b []byte) string {
	u := make([]uint16, 0, min(len(b)/2, maxValue))
	for i := 0; i+2 <= len(b) && len(u) < maxValue; i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return clean(string(utf16.Decode(u)))
}

// clean makes an untrusted value fit for an event: valid UTF-8, no
// control characters, trimmed, at most maxValue bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxValue {
		s = strings.ToValidUTF8(s[:maxValue], "")
	}
	return s
}
