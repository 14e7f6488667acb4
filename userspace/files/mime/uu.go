package mime

import "bytes"

// uuDecoder decodes a uuencoded part (Content-Transfer-Encoding
// x-uuencode and its aliases), line by line: "begin mode name", data
// lines whose first character gives their length, "end". Lines before
// "begin" are taken as data when they look like data (some encoders omit
// it); lines after "end" are ignored.
type uuDecoder struct {
	line [uuMaxLine]byte
	n    int
	long bool  // the line went past uuMaxLine
	st   uint8 // uuStart, uuData, uuEnd
	bad  bool  // a malformed line was seen
}

const (
	uuStart = iota
	uuData
	uuEnd
)

// uuMaxLine bounds a line: 1 length character and 84 for 63 bytes, with
// room for padding some encoders add.
const uuMaxLine = 128

func (d *uuDecoder) reset() { *d = uuDecoder{} }

func (d *uuDecoder) text(p []byte) {
	n := copy(d.line[d.n:], p)
	d.n += n
	if n < len(p) {
		d.long = true
	}
}

// eol decodes the line collected, appending to dst (63 bytes at most).
func (d *uuDecoder) eol(dst []byte) []byte {
	line := d.line[:d.n]
	long := d.long
	d.n, d.long = 0, false
	if d.st == uuEnd {
		return dst
	}
	if bytes.HasPrefix(line, []byte("begin ")) {
		d.st = uuData
		return dst
	}
	if string(bytes.TrimRight(line, " \t")) == "end" {
		d.st = uuEnd
		return dst
	}
	if len(line) == 0 {
		return dst
	}
	if long {
		d.bad = true
	}
	want := int((line[0] - ' ') & 63)
	if want == 0 {
		return dst // the "`" line before "end"
	}
	line = line[1:]
	got := 0
	for i := 0; got < want; i += 4 {
		var q [4]byte
		for k := range 4 {
			if i+k < len(line) {
				q[k] = (line[i+k] - ' ') & 63
			} else {
				d.bad = true // short line: missing characters count as zero
			}
		}
		b := [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		k := min(3, want-got)
		dst = append(dst, b[:k]...)
		got += k
		if i >= len(line) {
			break
		}
	}
	return dst
}

// finish decodes a last line without its line end.
func (d *uuDecoder) finish(dst []byte) []byte {
	if d.n > 0 {
		dst = d.eol(dst)
	}
	return dst
}
