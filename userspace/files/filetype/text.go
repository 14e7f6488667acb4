package filetype

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// IsText reports whether head reads as text: a Unicode byte-order mark,
// or valid UTF-8 (a rune cut by the end of a full HeadSize head is fine)
// without the
// control bytes that mark binary data (WHATWG's "binary data byte": all
// C0 controls except TAB, LF, FF, CR and ESC).
//
// It is stricter than the library's text rule, which accepts any high
// bytes: a tiny binary such as a DOS .com program often passes that one,
// and must not count as "clearly text" for the name rule.
func IsText(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) ||
		bytes.HasPrefix(head, []byte{0xFE, 0xFF}) || bytes.HasPrefix(head, []byte{0xFF, 0xFE}) {
		return true
	}
	ascii, ok := scanText(head)
	if !ok {
		return false
	}
	if ascii {
		return true
	}
	// A full head may end inside a rune: drop it before validating.
	for i := 1; i <= 3 && len(head) >= HeadSize; i++ {
		c := head[len(head)-i]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 { // a lead byte: keep it only if its rune is whole
			if n := leadLen(c); n > i {
				head = head[:len(head)-i]
			}
			break
		}
	}
	return utf8.Valid(head)
}

func leadLen(c byte) int {
	switch {
	case c >= 0xF0:
		return 4
	case c >= 0xE0:
		return 3
	}
	return 2
}

// textShortcut lets plainText skip the library; tests turn it off to
// compare.
var textShortcut = true

// plainText: text that no candidate type can be, so the library's walk
// of its signature tree (most of the cost of typing a text head: 8 µs for
// 4 KiB) is skipped. What the library would say of such a head decides
// nothing: text is a candidate only through sniffScript, which reads the
// head itself, and a type of category None is never reported, so its
// MIME and mismatch are unused. Of the library's candidate types only
// PDF, bzip2 and tar can have a head IsText accepts (every other magic
// holds bytes it refuses); those go the long way: a PDF when pdfHeader
// (which sniff asks of every head the library calls PDF) takes it, bzip2
// by its prefix, tar whenever its checksum field reads as octal.
func plainText(head []byte) bool {
	if len(head) >= 3 && string(head[:3]) == "BZh" || tarChecksumField(head) ||
		// A picture's head can be printable (GIF89a, RIFF): its MIME
		// is the library's (a polyglot's event shows it).
		Picture(Type{}, head) != "" ||
		pdfHeader(head) { // the PDF rule's own test, which sniff asks of the library's PDFs
		return false
	}
	return IsText(head)
}

// tarChecksumField: a tar header's checksum field (octal digits padded
// with blanks or NULs) at 148.
func tarChecksumField(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	f := bytes.Trim(head[148:156], " \x00")
	if len(f) == 0 {
		return false
	}
	for _, c := range f {
		if c == 0 {
			break
		}
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// scanText says whether b holds no binary control byte (ok) and, when
// it holds none, whether it is all ASCII. Eight bytes at a time, without a branch per byte: an
// exact mask marks the bytes under 0x20, and only those (a line end or a
// tab, mostly) are looked up in the allowed set.
func scanText(b []byte) (ascii, ok bool) {
	const low7, hi, lift = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080, 0x6060606060606060
	const allowed = 1<<'\t' | 1<<'\n' | 1<<'\f' | 1<<'\r' | 1<<0x1b
	var high uint64
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		high |= w
		// (x&0x7f)+0x60 reaches bit 7 exactly when x&0x7f >= 0x20 and
		// never carries into the next byte; with x's own bit 7 or-ed in,
		// the bytes left without bit 7 are those under 0x20.
		for m := ^((w&low7 + lift) | w) & hi; m != 0; m &= m - 1 {
			if c := byte(w >> (bits.TrailingZeros64(m) &^ 7)); allowed>>c&1 == 0 {
				return high&hi == 0, false
			}
		}
		b = b[8:]
	}
	ok = true
	for _, c := range b {
		high |= uint64(c)
		if c < 0x20 && allowed>>c&1 == 0 {
			ok = false
		}
	}
	return high&hi == 0, ok
}
