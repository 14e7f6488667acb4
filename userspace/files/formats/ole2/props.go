package ole2

import (
	"encoding/binary"
	"strings"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// Property streams of Office documents.
const (
	SummaryInformation         = "\x05SummaryInformation"         // title, author, last author, application
	DocumentSummaryInformation = "\x05DocumentSummaryInformation" // company
)

// maxPropStream bounds the bytes of a property stream read.
const maxPropStream = 64 << 10

// Properties reads the string properties of the first property set of
// the property stream d (MS-OLEPS), by property id: VT_LPSTR in the
// set's code page (UTF-16 for 1200, UTF-8 for 65001, else Windows-1252)
// and VT_LPWSTR, each cleaned and bounded. At most 1024 properties are
// looked at and 64 KiB of the stream read.
func (c *File) Properties(d *Dir) map[uint32]string {
	return propertySet(c.Stream(d, maxPropStream))
}

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
			out[p.id] = codepageString(v[:min(cnt, 4*text.MaxValue)], codepage)
		case 0x1F: // VT_LPWSTR: a character count
			if 2*cnt > len(v) || cnt < 0 {
				cnt = len(v) / 2
			}
			out[p.id] = text.UTF16LE(v[:min(2*cnt, 4*text.MaxValue)])
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
		return text.UTF16LE(b)
	case 65001:
		return text.Clean(string(b))
	}
	r := make([]rune, 0, len(b))
	for _, c := range b {
		if c >= 0x80 && c < 0xA0 {
			r = append(r, cp1252[c-0x80])
		} else {
			r = append(r, rune(c))
		}
	}
	return text.Clean(string(r))
}

// cp1252 is Windows-1252 0x80-0x9F (undefined positions as U+FFFD).
var cp1252 = [32]rune{
	0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
	0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0xFFFD,
}
