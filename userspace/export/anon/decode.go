package anon

import (
	"strings"
	"unicode/utf8"
)

// maxDecodeRounds bounds how often Unescape decodes: double encoding is
// common (a URL in a parameter of a URL in a parameter), deeper nesting
// is an attack on the scanner, and what is left encoded after it is
// scanned as it is.
const maxDecodeRounds = 4

// Unescape percent-decodes s until nothing changes (at most
// maxDecodeRounds times): "%2540" is '@'. IIS's %uXXXX is decoded too.
// Malformed escapes stay as they are. The scrubbers look for personal
// data in what Unescape returns, so no encoding hides it.
func Unescape(s string) string {
	for range maxDecodeRounds {
		d, changed := unescapeOnce(s)
		if !changed {
			return s
		}
		s = d
	}
	return s
}

func unescapeOnce(s string) (string, bool) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s, false
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	changed := false
	for ; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 < len(s) {
			if hi, lo := unhex(s[i+1]), unhex(s[i+2]); hi >= 0 && lo >= 0 {
				b = append(b, byte(hi<<4|lo))
				i += 2
				changed = true
				continue
			}
		}
		if i+5 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			r, ok := 0, true
			for k := i + 2; k < i+6; k++ {
				h := unhex(s[k])
				ok = ok && h >= 0
				r = r<<4 | h
			}
			if ok {
				b = utf8.AppendRune(b, rune(r))
				i += 5
				changed = true
				continue
			}
		}
		b = append(b, c)
	}
	return string(b), changed
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// escapeURLPart percent-encodes what cannot stand as itself in a URL
// path segment or query component: everything but the unreserved and
// sub-delimiter characters, ':' and '@' (and '/' when keepSlash). '%' is
// encoded, so the result decodes to s exactly once.
func escapeURLPart(s string, keepSlash bool) string {
	const hex = "0123456789ABCDEF"
	safe := true
	for i := 0; i < len(s) && safe; i++ {
		safe = urlSafe(s[i]) || keepSlash && s[i] == '/'
	}
	if safe {
		return s // most parts: nothing to escape, nothing to copy
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if urlSafe(c) || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func urlSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$'()*,:@", c) >= 0
}
