package mime

import (
	"bytes"
	"unicode/utf8"
)

// toUTF8 appends b, in charset cs, to dst as UTF-8. It knows the
// charsets mail headers mostly use; ok is false for others. As browsers
// do (WHATWG Encoding), US-ASCII and ISO-8859-1 labels are read as
// windows-1252: mail software labels windows-1252 text ISO-8859-1 all the
// time, and the C1 controls ISO-8859-1 would give are never meant. Bytes
// that are not valid in a UTF-8 label are kept: Meta strings need not be
// valid UTF-8.
func toUTF8(dst, cs, b []byte) ([]byte, bool) {
	cs = bytes.TrimSpace(cs)
	if i := bytes.IndexByte(cs, '*'); i >= 0 { // RFC 2231 5: charset*language
		cs = cs[:i]
	}
	var hi *[128]rune
	switch {
	case len(cs) == 0, equalFold(cs, "utf-8"), equalFold(cs, "utf8"):
		return append(dst, b...), true
	case isLatin1(cs):
		hi = &cp1252
	case equalFold(cs, "iso-8859-15"), equalFold(cs, "iso8859-15"), equalFold(cs, "iso_8859-15"),
		equalFold(cs, "latin-9"), equalFold(cs, "latin9"):
		hi = &latin9
	default:
		return dst, false
	}
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, hi[c-0x80])
		}
	}
	return dst, true
}

func isLatin1(cs []byte) bool {
	for _, l := range [...]string{
		"us-ascii", "ascii", "ansi_x3.4-1968", "iso-8859-1", "iso8859-1", "iso_8859-1",
		"latin1", "latin-1", "l1", "cp819", "ibm819",
		"windows-1252", "cp1252", "x-cp1252",
	} {
		if equalFold(cs, l) {
			return true
		}
	}
	return false
}

// cp1252 maps 0x80-0xFF of windows-1252; its five holes map to the C1
// control of the same value, as WHATWG does.
var cp1252 = func() (t [128]rune) {
	for i := range t {
		t[i] = rune(0x80 + i)
	}
	copy(t[:32], []rune{
		0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
		0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
		0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
		0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
	})
	return t
}()

// latin9 is ISO-8859-15: ISO-8859-1 with eight code points changed.
var latin9 = func() (t [128]rune) {
	for i := range t {
		t[i] = rune(0x80 + i)
	}
	for c, r := range map[byte]rune{0xA4: 0x20AC, 0xA6: 0x0160, 0xA8: 0x0161, 0xB4: 0x017D,
		0xB8: 0x017E, 0xBC: 0x0152, 0xBD: 0x0153, 0xBE: 0x0178} {
		t[c-0x80] = r
	}
	return t
}()
