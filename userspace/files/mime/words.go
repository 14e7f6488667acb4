package mime

import "bytes"

// decodeWords decodes the RFC 2047 encoded words of an unfolded header
// value: "=?charset?B?base64?=" and "=?charset?Q?text?=", with the blanks
// between two adjacent words dropped (6.2). A word in a charset toUTF8
// does not know, or malformed, is left as it is.
func decodeWords(v []byte) string {
	i := bytes.Index(v, []byte("=?"))
	if i < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	afterWord := false
	for {
		between := v[:i]
		text, n, ok := decodeWord(v[i:])
		if !ok {
			out = append(out, v[:i+2]...)
			v = v[i+2:]
			afterWord = false
		} else {
			if !afterWord || !isBlank(between) {
				out = append(out, between...)
			}
			out, ok = toUTF8(out, text.charset, text.data)
			if !ok {
				out = append(out, v[i:i+n]...) // unknown charset: left encoded
			}
			afterWord = ok
			v = v[i+n:]
		}
		i = bytes.Index(v, []byte("=?"))
		if i < 0 {
			return string(append(out, v...))
		}
	}
}

type word struct {
	charset, data []byte
}

// maxCharset bounds a charset name.
const maxCharset = 64

// decodeWord decodes the encoded word at the start of v and returns its
// bytes (in its charset) and length.
func decodeWord(v []byte) (w word, n int, ok bool) {
	// =?charset?E?text?=
	rest := v[2:]
	q := bytes.IndexByte(rest, '?')
	if q <= 0 || q > maxCharset || bytes.ContainsAny(rest[:q], " \t\"()<>,;:") {
		return w, 0, false
	}
	w.charset = rest[:q]
	rest = rest[q+1:]
	if len(rest) < 2 || rest[1] != '?' {
		return w, 0, false
	}
	e := rest[0] | 0x20
	rest = rest[2:]
	end := bytes.Index(rest, []byte("?="))
	if end < 0 {
		return w, 0, false
	}
	text := rest[:end]
	n = 2 + q + 1 + 2 + end + 2
	switch e {
	case 'b':
		var d b64Decoder
		out := make([]byte, len(text)*3/4+3)
		k := d.decode(out, text)
		k2, _ := d.finish(out[k:])
		w.data = out[:k+k2]
	case 'q':
		out := make([]byte, 0, len(text))
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '_':
				c = ' '
			case c == '=' && i+2 < len(text):
				h, ok1 := unhex(text[i+1])
				l, ok2 := unhex(text[i+2])
				if ok1 && ok2 {
					c = h<<4 | l
					i += 2
				}
			}
			out = append(out, c)
		}
		w.data = out
	default:
		return w, 0, false
	}
	return w, n, true
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
