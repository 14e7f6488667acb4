package mime

// qpDecoder decodes quoted-printable as a stream (RFC 2045 6.7), fed
// line content and line ends separately. It keeps an escape split between
// calls, drops white space at the end of a line (rule 3: transports may
// add it), and a '=' at the end of a line, even followed by white space,
// is a soft line break. Escapes that are not escapes ("=G1", a lone "=")
// are kept literally and counted, as mail clients do; lower-case hex is
// accepted.
type qpDecoder struct {
	st  uint8 // qpText, qpEq ("=" seen), qpHex ("=X" seen), qpEqWS ("=" then blanks)
	hi  byte  // the first hex digit in qpHex, as it came
	ws  [qpMaxWS]byte
	nws int  // blanks held: trailing ones are dropped
	bad bool // a malformed escape was seen
}

const (
	qpText = iota
	qpEq
	qpHex
	qpEqWS
)

// qpMaxWS bounds the blanks held. A longer run cannot be trailing white
// space of a real quoted-printable line (76 characters at most), so it is
// passed on.
const qpMaxWS = 128

// qpMaxOut is the most text (or eol, finish) adds beyond the input's
// length: held blanks and a pending escape.
const qpMaxOut = qpMaxWS + 4

func (d *qpDecoder) reset() { *d = qpDecoder{} }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// text decodes line content p, appending to dst.
func (d *qpDecoder) text(dst, p []byte) []byte {
	for i := 0; i < len(p); {
		c := p[i]
		switch d.st {
		case qpText:
			if c != '=' && c != ' ' && c != '\t' {
				// A run of plain bytes in one append.
				j := i + 1
				for j < len(p) && p[j] != '=' && p[j] != ' ' && p[j] != '\t' {
					j++
				}
				dst = d.flushWS(dst)
				dst = append(dst, p[i:j]...)
				i = j
				continue
			}
			if c == '=' {
				dst = d.flushWS(dst)
				d.st = qpEq
			} else {
				dst = d.holdWS(dst, c)
			}
		case qpEq:
			if _, ok := unhex(c); ok {
				d.hi, d.st = c, qpHex
			} else if c == ' ' || c == '\t' {
				d.st = qpEqWS
				dst = d.holdWS(dst, c)
			} else {
				d.bad = true
				dst = append(dst, '=')
				d.st = qpText
				continue // c again, as text
			}
		case qpHex:
			if l, ok := unhex(c); ok {
				h, _ := unhex(d.hi)
				dst = append(dst, h<<4|l)
				d.st = qpText
			} else {
				d.bad = true
				dst = append(dst, '=', d.hi)
				d.st = qpText
				continue
			}
		case qpEqWS:
			if c == ' ' || c == '\t' {
				dst = d.holdWS(dst, c)
			} else {
				// "=  x": not a soft break after all.
				d.bad = true
				dst = append(dst, '=')
				dst = d.flushWS(dst)
				d.st = qpText
				continue
			}
		}
		i++
	}
	return dst
}

// eol ends a line: a hard line break (term) unless it was soft.
func (d *qpDecoder) eol(dst []byte, term string) []byte {
	d.nws = 0 // trailing white space
	switch d.st {
	case qpEq, qpEqWS:
		d.st = qpText
		return dst // soft line break
	case qpHex:
		d.bad = true
		dst = append(dst, '=', d.hi)
	}
	d.st = qpText
	return append(dst, term...)
}

// finish ends the data (the line end before a delimiter is the
// delimiter's): trailing blanks and a final soft break are dropped.
func (d *qpDecoder) finish(dst []byte) []byte {
	d.nws = 0
	if d.st == qpHex {
		d.bad = true
		dst = append(dst, '=', d.hi)
	}
	d.st = qpText
	return dst
}

func (d *qpDecoder) holdWS(dst []byte, c byte) []byte {
	if d.nws == qpMaxWS {
		if d.st == qpEqWS {
			// Not a soft break either: too long.
			d.bad = true
			dst = append(dst, '=')
			d.st = qpText
		}
		dst = d.flushWS(dst)
	}
	d.ws[d.nws] = c
	d.nws++
	return dst
}

func (d *qpDecoder) flushWS(dst []byte) []byte {
	if d.nws > 0 {
		dst = append(dst, d.ws[:d.nws]...)
		d.nws = 0
	}
	return dst
}
