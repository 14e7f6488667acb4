package pdffile

import (
	"unicode/utf16"
	"unicode/utf8"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/text"
)

// A minimal PDF lexer: enough to walk a dictionary and read its string
// values. Every loop ends at the end of the buffer.

type tok uint8

const (
	tEOF tok = iota
	tName
	tString // literal or hex; val holds the decoded bytes
	tNumber
	tKeyword // R, obj, true, null...
	tDictStart
	tDictEnd
	tArrStart
	tArrEnd
	tOther
)

type lexer struct {
	b []byte
	i int
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (l *lexer) skipSpace() {
	for l.i < len(l.b) {
		c := l.b[l.i]
		if isSpace(c) {
			l.i++
			continue
		}
		if c == '%' { // comment to the end of the line
			for l.i < len(l.b) && l.b[l.i] != '\n' && l.b[l.i] != '\r' {
				l.i++
			}
			continue
		}
		return
	}
}

// next returns the next token; for names, numbers and keywords val is
// the token's bytes (a sub-slice), for strings the decoded bytes.
func (l *lexer) next() (tok, []byte) {
	l.skipSpace()
	if l.i >= len(l.b) {
		return tEOF, nil
	}
	c := l.b[l.i]
	switch {
	case c == '<' && l.i+1 < len(l.b) && l.b[l.i+1] == '<':
		l.i += 2
		return tDictStart, nil
	case c == '>' && l.i+1 < len(l.b) && l.b[l.i+1] == '>':
		l.i += 2
		return tDictEnd, nil
	case c == '<':
		return tString, l.hexString()
	case c == '(':
		return tString, l.literalString()
	case c == '[':
		l.i++
		return tArrStart, nil
	case c == ']':
		l.i++
		return tArrEnd, nil
	case c == '/':
		s := l.i + 1
		l.i++
		for l.i < len(l.b) && !isSpace(l.b[l.i]) && !isDelim(l.b[l.i]) {
			l.i++
		}
		return tName, l.b[s:l.i]
	case isDelim(c):
		l.i++
		return tOther, nil
	}
	s := l.i
	for l.i < len(l.b) && !isSpace(l.b[l.i]) && !isDelim(l.b[l.i]) {
		l.i++
	}
	w := l.b[s:l.i]
	if c == '+' || c == '-' || c == '.' || isDigit(c) {
		return tNumber, w
	}
	return tKeyword, w
}

// literalString reads "(...)" with balanced parentheses and escapes.
// Output beyond 4*text.MaxValue bytes is dropped but the string is consumed.
func (l *lexer) literalString() []byte {
	l.i++ // (
	var out []byte
	put := func(c byte) {
		if len(out) < 4*text.MaxValue {
			out = append(out, c)
		}
	}
	depth := 1
	for l.i < len(l.b) {
		c := l.b[l.i]
		l.i++
		switch c {
		case '(':
			depth++
			put(c)
		case ')':
			depth--
			if depth == 0 {
				return out
			}
			put(c)
		case '\\':
			if l.i >= len(l.b) {
				return out
			}
			e := l.b[l.i]
			l.i++
			switch e {
			case 'n':
				put('\n')
			case 'r':
				put('\r')
			case 't':
				put('\t')
			case 'b':
				put('\b')
			case 'f':
				put('\f')
			case '\r': // line continuation
				if l.i < len(l.b) && l.b[l.i] == '\n' {
					l.i++
				}
			case '\n':
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && l.i < len(l.b) && l.b[l.i] >= '0' && l.b[l.i] <= '7'; k++ {
						v = v*8 + int(l.b[l.i]-'0')
						l.i++
					}
					put(byte(v))
				} else {
					put(e) // \( \) \\ and unknown escapes: the character
				}
			}
		default:
			put(c)
		}
	}
	return out
}

// hexString reads "<...>": hex digits, whitespace ignored, an odd last
// digit padded with 0.
func (l *lexer) hexString() []byte {
	l.i++ // <
	var out []byte
	hi, have := byte(0), false
	for l.i < len(l.b) {
		c := l.b[l.i]
		l.i++
		if c == '>' {
			break
		}
		v, ok := unhex(c)
		if !ok {
			continue
		}
		if have {
			if len(out) < 4*text.MaxValue {
				out = append(out, hi<<4|v)
			}
			have = false
		} else {
			hi, have = v, true
		}
	}
	if have && len(out) < 4*text.MaxValue {
		out = append(out, hi<<4)
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// value reads one whole value: a reference "n g R" (isRef, with num
// and gen), or a token, with a dictionary or array skipped to its end.
func (l *lexer) value() (t tok, v []byte, num, gen int, isRef bool) {
	if n, g, ok := l.ref(); ok {
		return tKeyword, nil, n, g, true
	}
	t, v = l.next()
	l.skipValue(t)
	return t, v, 0, 0, false
}

// skipValue skips one value whose first token is t (nested dictionaries
// and arrays included).
func (l *lexer) skipValue(t tok) {
	if t != tDictStart && t != tArrStart {
		return
	}
	depth := 1
	for depth > 0 {
		switch t, _ := l.next(); t {
		case tEOF:
			return
		case tDictStart, tArrStart:
			depth++
		case tDictEnd, tArrEnd:
			depth--
		}
	}
}

// pdfText decodes a PDF text string: UTF-16BE with a BOM (UTF-16LE with
// one is seen in the wild), UTF-8 with a BOM (PDF 2.0), else
// PDFDocEncoding.
func pdfText(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		return text.Clean(utf16Bytes(b[2:], true))
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		return text.Clean(utf16Bytes(b[2:], false))
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return text.Clean(string(b[3:]))
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, pdfDocRune(c))
	}
	return text.Clean(string(out))
}

func utf16Bytes(b []byte, bigEndian bool) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			u = append(u, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	return string(utf16.Decode(u))
}

// pdfDocHigh is PDFDocEncoding 0x80-0xA0 (ISO 32000-1, Annex D); 0x9F
// is undefined. 0xA1-0xFF are Latin-1 but for 0xAD (undefined).
var pdfDocHigh = [33]rune{
	0x2022, 0x2020, 0x2021, 0x2026, 0x2014, 0x2013, 0x0192, 0x2044,
	0x2039, 0x203A, 0x2212, 0x2030, 0x201E, 0x201C, 0x201D, 0x2018,
	0x2019, 0x201A, 0x2122, 0xFB01, 0xFB02, 0x0141, 0x0152, 0x0160,
	0x0178, 0x017D, 0x0131, 0x0142, 0x0153, 0x0161, 0x017E, 0xFFFD,
	0x20AC,
}

// pdfDocLow is PDFDocEncoding 0x18-0x1F (spacing accents).
var pdfDocLow = [8]rune{0x02D8, 0x02C7, 0x02C6, 0x02D9, 0x02DD, 0x02DB, 0x02DA, 0x02DC}

func pdfDocRune(c byte) rune {
	switch {
	case c >= 0x18 && c <= 0x1F:
		return pdfDocLow[c-0x18]
	case c >= 0x80 && c <= 0xA0:
		return pdfDocHigh[c-0x80]
	case c == 0xAD:
		return 0xFFFD
	}
	return rune(c)
}
