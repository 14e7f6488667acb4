package filetype

import (
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf16"
)

// OLE2 (Compound File Binary, MS-CFB) is read just far enough to get two
// small streams: "\x05SummaryInformation" (title, author, last author,
// application) and "\x05DocumentSummaryInformation" (company). Chains are
// followed through the FAT with a step bound, so a looping FAT ends.

const (
	cfbEndOfChain = 0xFFFFFFFE
	cfbMaxDirs    = 4096       // directory entries read
	cfbMaxStream  = 64 << 10   // bytes of a property stream read
	cfbMaxRegSect = 0xFFFFFFFA // larger sector numbers are markers
	cfbMaxDIFAT   = 1 << 16    // FAT sectors known
)

type cfb struct {
	p         *pager
	ss        int64    // sector size
	fatSecs   []uint32 // FAT sector numbers (from the DIFAT)
	miniFAT   uint32   // first mini FAT sector
	cutoff    uint32   // mini stream cutoff (4096)
	rootStart uint32   // the mini stream's first sector
	rootSize  uint64
}

func oleMetadata(r io.ReaderAt, size int64) *OfficeMeta {
	p := newPager(r, size)
	h := p.bytes(0, 512)
	if h == nil || string(h[:8]) != "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" {
		return nil
	}
	c := &cfb{p: p, miniFAT: binary.LittleEndian.Uint32(h[60:]), cutoff: binary.LittleEndian.Uint32(h[56:])}
	switch binary.LittleEndian.Uint16(h[30:]) {
	case 9:
		c.ss = 512
	case 12:
		c.ss = 4096
	default:
		return nil
	}
	nFAT := int(binary.LittleEndian.Uint32(h[44:]))
	for i := 0; i < 109 && len(c.fatSecs) < nFAT; i++ {
		c.fatSecs = append(c.fatSecs, binary.LittleEndian.Uint32(h[76+4*i:]))
	}
	// The rest of the DIFAT: sectors of (ss/4 - 1) entries and a link.
	next := binary.LittleEndian.Uint32(h[68:])
	per := int(c.ss/4) - 1
	for steps := 0; len(c.fatSecs) < min(nFAT, cfbMaxDIFAT) && next <= cfbMaxRegSect && steps < cfbMaxDIFAT; steps++ {
		s := c.sector(next, 0, int(c.ss))
		if s == nil {
			break
		}
		for i := 0; i < per && len(c.fatSecs) < nFAT; i++ {
			c.fatSecs = append(c.fatSecs, binary.LittleEndian.Uint32(s[4*i:]))
		}
		next = binary.LittleEndian.Uint32(s[4*per:])
	}

	m := &OfficeMeta{}
	var summary, docSummary [2]uint64 // start, size
	dirSec := binary.LittleEndian.Uint32(h[48:])
	n := 0
	c.chain(dirSec, cfbMaxDirs*128/int(c.ss)+1, func(sec uint32) bool {
		for off := int64(0); off+128 <= c.ss && n < cfbMaxDirs; off += 128 {
			e := c.sector(sec, off, 128)
			if e == nil {
				return false
			}
			n++
			nameLen := int(binary.LittleEndian.Uint16(e[64:]))
			typ := e[66]
			start := binary.LittleEndian.Uint32(e[116:])
			sz := binary.LittleEndian.Uint64(e[120:])
			if c.ss == 512 {
				sz &= 0xffffffff // v3: the high half is undefined
			}
			name := cfbName(e[:min(nameLen, 64)])
			switch {
			case typ == 5 && n == 1:
				c.rootStart, c.rootSize = start, sz
			case typ == 2 && name == "\x05SummaryInformation":
				summary = [2]uint64{uint64(start), sz}
			case typ == 2 && name == "\x05DocumentSummaryInformation":
				docSummary = [2]uint64{uint64(start), sz}
			case typ == 1 && (name == "Macros" || name == "_VBA_PROJECT_CUR" || name == "VBA"):
				m.Macros = true
			}
		}
		return n < cfbMaxDirs
	})
	if summary[1] > 0 {
		props := propertySet(c.stream(uint32(summary[0]), summary[1]))
		m.Title, m.Creator, m.LastModifiedBy, m.Application = props[0x02], props[0x04], props[0x08], props[0x12]
	}
	if docSummary[1] > 0 {
		m.Company = propertySet(c.stream(uint32(docSummary[0]), docSummary[1]))[0x0F]
	}
	return m
}

func cfbName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// sector reads n bytes at off in sector sec.
func (c *cfb) sector(sec uint32, off int64, n int) []byte {
	if sec > cfbMaxRegSect { // DIFSECT, FATSECT, ENDOFCHAIN, FREESECT
		return nil
	}
	return c.p.bytes((int64(sec)+1)*c.ss+off, n)
}

// fat returns the FAT entry for sec (cfbEndOfChain when unknown).
func (c *cfb) fat(sec uint32) uint32 {
	per := uint32(c.ss / 4)
	i := sec / per
	if int(i) >= len(c.fatSecs) {
		return cfbEndOfChain
	}
	b := c.sector(c.fatSecs[i], int64(sec%per)*4, 4)
	if b == nil {
		return cfbEndOfChain
	}
	return binary.LittleEndian.Uint32(b)
}

// chain calls f for each sector of the chain from start, at most max.
func (c *cfb) chain(start uint32, max int, f func(uint32) bool) {
	for sec, i := start, 0; sec <= cfbMaxRegSect && i < max; i++ {
		if !f(sec) {
			return
		}
		sec = c.fat(sec)
	}
}

// stream reads up to cfbMaxStream bytes of a stream: from the mini stream
// when it is smaller than the cutoff, else from regular sectors.
func (c *cfb) stream(start uint32, size uint64) []byte {
	size = min(size, cfbMaxStream)
	out := make([]byte, 0, size)
	if size < uint64(c.cutoff) {
		// The mini stream is the root entry's chain, in 64-byte sectors
		// indexed by the mini FAT (itself a regular chain).
		var root []uint32
		c.chain(c.rootStart, int(min(c.rootSize, 1<<26)/uint64(c.ss))+1, func(s uint32) bool {
			root = append(root, s)
			return len(root) < 1<<16
		})
		for mini, steps := start, 0; uint64(len(out)) < size && mini <= cfbMaxRegSect && steps < cfbMaxStream/64; steps++ {
			pos := int64(mini) * 64
			k := pos / c.ss
			if k >= int64(len(root)) {
				break
			}
			b := c.sector(root[k], pos%c.ss, 64)
			if b == nil {
				break
			}
			out = append(out, b[:min(64, int(size)-len(out))]...)
			mini = c.miniFATEntry(mini)
		}
		return out
	}
	c.chain(start, int(size/uint64(c.ss))+1, func(s uint32) bool {
		b := c.sector(s, 0, int(c.ss))
		if b == nil {
			return false
		}
		out = append(out, b[:min(int(c.ss), int(size)-len(out))]...)
		return uint64(len(out)) < size
	})
	return out
}

// miniFATEntry: the mini FAT is a regular chain of 4-byte entries.
func (c *cfb) miniFATEntry(mini uint32) uint32 {
	per := uint32(c.ss / 4)
	idx := int(mini / per)
	var sec uint32 = cfbEndOfChain
	i := 0
	c.chain(c.miniFAT, idx+1, func(s uint32) bool {
		if i == idx {
			sec = s
			return false
		}
		i++
		return true
	})
	b := c.sector(sec, int64(mini%per)*4, 4)
	if b == nil {
		return cfbEndOfChain
	}
	return binary.LittleEndian.Uint32(b)
}

// propertySet reads the string properties of the first property set of
// a property stream (MS-OLEPS): VT_LPSTR in the set's code page
// (UTF-16 for 1200, UTF-8 for 65001, else Windows-1252) and VT_LPWSTR.
func propertySet(b []byte) map[uint32]string {
	out := map[uint32]string{}
	if len(b) < 48 || binary.LittleEndian.Uint16(b) != 0xFFFE {
		return out
	}
	base := int(binary.LittleEndian.Uint32(b[44:]))
	if base < 0 || base+8 > len(b) {
		return out
	}
	ps := b[base:]
	n := min(int(binary.LittleEndian.Uint32(ps[4:])), 1024)
	type prop struct{ id, off uint32 }
	var props []prop
	codepage := 1252
	for i := 0; i < n && 8+8*i+8 <= len(ps); i++ {
		id := binary.LittleEndian.Uint32(ps[8+8*i:])
		off := binary.LittleEndian.Uint32(ps[12+8*i:])
		if id == 1 && int(off)+6 <= len(ps) && binary.LittleEndian.Uint16(ps[off:]) == 2 { // PID_CODEPAGE, VT_I2
			codepage = int(binary.LittleEndian.Uint16(ps[off+4:]))
		}
		props = append(props, prop{id, off})
	}
	for _, p := range props {
		o := int(p.off)
		if p.id < 2 || o < 0 || o+8 > len(ps) {
			continue
		}
		typ := binary.LittleEndian.Uint16(ps[o:])
		cnt := int(binary.LittleEndian.Uint32(ps[o+4:]))
		v := ps[o+8:]
		switch typ {
		case 0x1E: // VT_LPSTR: a byte count
			if cnt > len(v) || cnt < 0 {
				cnt = len(v)
			}
			out[p.id] = codepageString(v[:min(cnt, 4*maxValue)], codepage)
		case 0x1F: // VT_LPWSTR: a character count
			if 2*cnt > len(v) || cnt < 0 {
				cnt = len(v) / 2
			}
			out[p.id] = utf16String(v[:min(2*cnt, 4*maxValue)])
		}
	}
	return out
}

func codepageString(b []byte, cp int) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 && cp != 1200 {
		b = b[:i]
	}
	switch cp {
	case 1200:
		return utf16String(b)
	case 65001:
		return clean(string(b))
	}
	r := make([]rune, 0, len(b))
	for _, c := range b {
		if c >= 0x80 && c < 0xA0 {
			r = append(r, cp1252[c-0x80])
		} else {
			r = append(r, rune(c))
		}
	}
	return clean(string(r))
}

// cp1252 is Windows-1252 0x80-0x9F (undefined positions as U+FFFD).
var cp1252 = [32]rune{
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0xFFFD,
}
