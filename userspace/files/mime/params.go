package mime

import (
	"bytes"
	"slices"
)

// params holds the parameters of Content-Type and Content-Disposition
// this package reads, each in its three RFC 2231 forms.
type params struct {
	boundary, name, filename param
}

// param is one parameter: plain (attr=value), extended (attr*=charset'
// lang'value) and continued (attr*0=, attr*1*=, ...).
type param struct {
	plain, ext []byte
	hasPlain   bool
	hasExt     bool
	segs       []segment
}

type segment struct {
	idx int
	val []byte
	enc bool // attr*N*=: percent-encoded, charset'lang' in segment 0
}

// Bounds on RFC 2231 continuations: enough for a long file name.
const (
	maxSegments = 64
	maxSegIndex = 999
)

// parseParams splits "type/subtype; attr=value; ..." and fills p with
// the parameters it knows; it returns the type. Quoted values are
// unquoted in place. The parser is lenient as mail clients are: a value
// without quotes runs to the next ';' (blanks inside kept), a quote left
// open runs to the end, a backslash escapes only '"' and '\' (so
// unescaped Windows paths survive), duplicates: the first wins.
func parseParams(v []byte, p *params) []byte {
	i := bytes.IndexByte(v, ';')
	if i < 0 {
		return trimComment(v)
	}
	typ := trimComment(v[:i])
	v = v[i+1:]
	for len(v) > 0 {
		// attr
		v = bytes.TrimLeft(v, " \t;")
		eq := bytes.IndexAny(v, "=;")
		if eq < 0 {
			break
		}
		if v[eq] == ';' {
			v = v[eq+1:] // an attribute without a value
			continue
		}
		attr := bytes.TrimSpace(v[:eq])
		v = bytes.TrimLeft(v[eq+1:], " \t")
		// value
		var val []byte
		if len(v) > 0 && v[0] == '"' {
			val, v = unquote(v[1:])
			if k := bytes.IndexByte(v, ';'); k >= 0 {
				v = v[k:]
			} else {
				v = nil
			}
		} else {
			k := bytes.IndexByte(v, ';')
			if k < 0 {
				k = len(v)
			}
			val = bytes.TrimSpace(v[:k])
			v = v[k:]
		}
		p.add(attr, val)
	}
	return typ
}

// trimComment returns a type without blanks or a trailing comment.
func trimComment(t []byte) []byte {
	if i := bytes.IndexByte(t, '('); i >= 0 {
		t = t[:i]
	}
	return bytes.TrimSpace(t)
}

// unquote reads a quoted string's body (after the opening quote),
// writing the unescaped value over itself, and returns it and the rest
// after the closing quote.
func unquote(v []byte) (val, rest []byte) {
	w := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"':
			return v[:w], v[i+1:]
		case c == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\'):
			i++
			c = v[i]
		}
		v[w] = c
		w++
	}
	return v[:w], nil
}

// add files attr=val under the parameter it names, if one of ours.
func (p *params) add(attr, val []byte) {
	base, rest, star := bytes.Cut(attr, []byte("*"))
	var q *param
	switch {
	case equalFold(base, "boundary"):
		q = &p.boundary
	case equalFold(base, "name"):
		q = &p.name
	case equalFold(base, "filename"):
		q = &p.filename
	default:
		return
	}
	switch {
	case !star:
		if !q.hasPlain {
			q.plain, q.hasPlain = val, true
		}
	case len(rest) == 0:
		if !q.hasExt {
			q.ext, q.hasExt = val, true
		}
	default:
		enc := rest[len(rest)-1] == '*'
		if enc {
			rest = rest[:len(rest)-1]
		}
		idx, ok := atoi(rest)
		if !ok || idx > maxSegIndex || len(q.segs) >= maxSegments {
			return
		}
		for _, s := range q.segs {
			if s.idx == idx {
				return
			}
		}
		q.segs = append(q.segs, segment{idx: idx, val: val, enc: enc})
	}
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// value returns the raw value (RFC 2231 forms joined and
// percent-decoded, no charset conversion): for the boundary.
func (q *param) value() []byte {
	if v, _, ok := q.ext2231(); ok {
		return v
	}
	return q.plain
}

// text returns the value as text: an RFC 2231 form (continuations, then
// the extended one) wins over the plain one, whose RFC 2047 encoded words
// are decoded (not standard, but what many clients send).
func (q *param) text() string {
	if v, cs, ok := q.ext2231(); ok {
		if out, ok := toUTF8(nil, cs, v); ok {
			return string(out)
		}
		return string(v) // unknown charset: the bytes as they are
	}
	if q.hasPlain {
		return decodeWords(clip(q.plain))
	}
	return ""
}

// ext2231 joins the RFC 2231 forms: continuations from index 0 in order
// (stopping at the first missing index), else the extended value. It
// returns the bytes and their charset.
func (q *param) ext2231() (val, charset []byte, ok bool) {
	if len(q.segs) > 0 {
		slices.SortFunc(q.segs, func(a, b segment) int { return a.idx - b.idx })
		if q.segs[0].idx == 0 {
			var out []byte
			for i, s := range q.segs {
				if s.idx != i || len(out) > maxFieldValue {
					break
				}
				v := s.val
				if s.enc {
					if i == 0 {
						charset, v = splitCharset(v)
					}
					out = percentDecode(out, v)
				} else {
					out = append(out, v...)
				}
			}
			return out, charset, true
		}
	}
	if q.hasExt {
		charset, v := splitCharset(q.ext)
		return percentDecode(nil, clip(v)), charset, true
	}
	return nil, nil, false
}

// splitCharset splits charset'language'value; without the quotes it is
// all value.
func splitCharset(v []byte) (charset, rest []byte) {
	cs, after, ok := bytes.Cut(v, []byte("'"))
	if !ok {
		return nil, v
	}
	if _, val, ok := bytes.Cut(after, []byte("'")); ok {
		return cs, val
	}
	return cs, after
}

// percentDecode appends v with %XX escapes decoded (a stray '%' kept).
func percentDecode(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' && i+2 < len(v) {
			h, ok1 := unhex(v[i+1])
			l, ok2 := unhex(v[i+2])
			if ok1 && ok2 {
				dst = append(dst, h<<4|l)
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst
}
