package filetype

import (
	"bytes"
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
	ascii := true
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\f' && c != '\r' && c != 0x1b {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
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
