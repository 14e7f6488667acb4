package mime

// b64Decoder decodes base64 as a stream (RFC 2045 6.8): characters
// outside the alphabet are skipped (counted unless white space), a '='
// ends a quantum early and decoding goes on after it (concatenated
// encodings), and up to three sextets wait for the next call.
type b64Decoder struct {
	acc     uint32 // pending sextets
	n       int    // how many (0-3)
	invalid uint64 // characters skipped, white space aside
	lost    bool   // a lone sextet was dropped: bits are missing
}

const (
	b64Pad   = 0xfe
	b64Space = 0xfd
	b64Bad   = 0xff
)

var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Bad
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alpha) {
		t[alpha[i]] = byte(i)
	}
	t['='] = b64Pad
	for _, c := range " \t\r\n" {
		t[c] = b64Space
	}
	return t
}()

func (d *b64Decoder) reset() { *d = b64Decoder{} }

// decode decodes src into dst and returns the bytes written. dst must
// hold len(src)*3/4+3 bytes.
func (d *b64Decoder) decode(dst, src []byte) int {
	w, i := 0, 0
	for i < len(src) {
		if d.n == 0 {
			// Whole quanta straight through: the common case.
			for i+4 <= len(src) {
				a, b, c, e := b64Table[src[i]], b64Table[src[i+1]], b64Table[src[i+2]], b64Table[src[i+3]]
				if a|b|c|e >= 64 {
					break
				}
				u := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(e)
				_ = dst[w+2]
				dst[w], dst[w+1], dst[w+2] = byte(u>>16), byte(u>>8), byte(u)
				w += 3
				i += 4
			}
			if i == len(src) {
				break
			}
		}
		v := b64Table[src[i]]
		i++
		switch {
		case v < 64:
			d.acc = d.acc<<6 | uint32(v)
			d.n++
			if d.n == 4 {
				dst[w], dst[w+1], dst[w+2] = byte(d.acc>>16), byte(d.acc>>8), byte(d.acc)
				w += 3
				d.acc, d.n = 0, 0
			}
		case v == b64Pad:
			w += d.partial(dst[w:])
		case v == b64Space:
		default:
			d.invalid++
		}
	}
	return w
}

// partial ends the pending quantum (at '=' or the end of the data) and
// returns the bytes written: 2 sextets make 1 byte, 3 make 2.
func (d *b64Decoder) partial(dst []byte) int {
	n := 0
	switch d.n {
	case 1:
		d.lost = true
	case 2:
		dst[0] = byte(d.acc >> 4)
		n = 1
	case 3:
		dst[0], dst[1] = byte(d.acc>>10), byte(d.acc>>2)
		n = 2
	}
	d.acc, d.n = 0, 0
	return n
}

// finish ends the data, writing what the pending sextets hold (an
// unpadded end is accepted), and reports whether no bits were lost.
func (d *b64Decoder) finish(dst []byte) (int, bool) {
	n := d.partial(dst)
	return n, !d.lost
}

// malformed reports whether the part had anything to forgive.
func (d *b64Decoder) malformed() bool { return d.invalid > 0 || d.lost }
