package pdffile

import (
	"bytes"
	"io"
	"strconv"

	"github.com/klauspost/compress/zlib"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Finding an object that is not in the windows: through the classic
// cross-reference tables, or inside PDF 1.5 object streams.

// xrefObject follows startxref and the /Prev chain of classic xref
// tables (at most 16 sections, a /Prev back to a section already read
// ends it) to the object's offset.
func (d *doc) xrefObject(num, gen int) []byte {
	w := d.head
	if d.tail != nil {
		w = d.tail
	}
	i := bytes.LastIndex(w, []byte("startxref"))
	if i < 0 {
		return nil
	}
	l := lexer{b: w, i: i + 9}
	t, v := l.next()
	if t != tNumber {
		return nil
	}
	off, err := strconv.ParseInt(string(v), 10, 64)
	var seen [16]int64
	for sect := 0; err == nil && sect < len(seen) && off > 0 && off < d.size; sect++ {
		for _, s := range seen[:sect] {
			if s == off {
				return nil
			}
		}
		seen[sect] = off
		x := pager.ReadAt(d.r, d.size, off, 256<<10)
		if !bytes.HasPrefix(x, []byte("xref")) {
			return nil // a cross-reference stream: the object stream path covers it
		}
		if o, found := xrefLookup(x[4:], num, gen); found {
			if o <= 0 || o >= d.size {
				return nil
			}
			b := pager.ReadAt(d.r, d.size, o, 64<<10)
			if i := findObj(b[:min(len(b), 64)], num, gen); i >= 0 {
				return b[i:]
			}
			return nil
		}
		// Not in this section: the trailer's /Prev, if any.
		j := bytes.Index(x, []byte("trailer"))
		if j < 0 {
			return nil
		}
		k := bytes.Index(x[j:], []byte("/Prev"))
		if k < 0 {
			return nil
		}
		l := lexer{b: x, i: j + k + 5}
		t, v := l.next()
		if t != tNumber {
			return nil
		}
		off, err = strconv.ParseInt(string(v), 10, 64)
	}
	return nil
}

// xrefLookup reads the subsections of a classic xref table ("first
// count" then 20-byte entries "oooooooooo ggggg n") for num.
func xrefLookup(x []byte, num, gen int) (int64, bool) {
	l := lexer{b: x}
	for sub := 0; sub < 1024; sub++ {
		t1, a := l.next()
		if t1 != tNumber {
			return 0, false // "trailer"
		}
		t2, b := l.next()
		first, err1 := strconv.Atoi(string(a))
		count, err2 := strconv.Atoi(string(b))
		if t2 != tNumber || err1 != nil || err2 != nil || first < 0 || count < 0 {
			return 0, false
		}
		l.skipSpace()
		if num >= first && num-first < count {
			// The entry must be in x: checked before the multiplication,
			// which a huge claimed count would otherwise overflow.
			if num-first > (len(x)-l.i)/20 {
				return 0, false
			}
			e := l.i + 20*(num-first)
			if e+18 > len(x) {
				return 0, false
			}
			ent := x[e : e+18]
			if ent[17] != 'n' {
				return 0, false
			}
			o, err := strconv.ParseInt(string(ent[:10]), 10, 64)
			g, err2 := strconv.Atoi(string(ent[11:16]))
			if err != nil || err2 != nil || g != gen {
				return 0, false
			}
			return o, true
		}
		l.i += 20 * count
		if l.i > len(x) || count > len(x) {
			return 0, false
		}
	}
	return 0, false
}

// objStmObject looks for object num in the object streams (PDF 1.5)
// found in the windows: /Type /ObjStm streams, Flate or unfiltered, at
// most maxObjStms of them, each inflated to at most maxObjStm.
func (d *doc) objStmObject(num int) []byte {
	for _, w := range d.windows() {
		for i := 0; i < len(w) && d.objStms < maxObjStms; {
			j := bytes.Index(w[i:], []byte("/ObjStm"))
			if j < 0 {
				break
			}
			at := i + j
			i = at + 7
			// The dictionary opens before /Type /ObjStm: back to its "<<".
			s := bytes.LastIndex(w[max(0, at-1024):at], []byte("<<"))
			if s < 0 {
				continue
			}
			s += max(0, at-1024)
			d.objStms++
			if b := objStmFind(w, s, num); b != nil {
				return b
			}
		}
	}
	return nil
}

// objStmFind parses the object stream whose dictionary starts at s.
func objStmFind(w []byte, s, num int) []byte {
	l := lexer{b: w, i: s}
	if t, _ := l.next(); t != tDictStart {
		return nil
	}
	n, first, length, flate := -1, -1, -1, false
	for {
		t, k := l.next()
		if t == tDictEnd || t == tEOF {
			break
		}
		if t != tName {
			continue
		}
		vt, v, _, _, isRef := l.value()
		switch string(k) {
		case "N", "First", "Length":
			if vt != tNumber || isRef {
				continue // an indirect /Length: endstream is searched instead
			}
			x, err := strconv.Atoi(string(v))
			if err != nil || x < 0 {
				return nil
			}
			switch string(k) {
			case "N":
				n = x
			case "First":
				first = x
			default:
				length = x
			}
		case "Filter":
			if vt == tName && string(v) == "FlateDecode" {
				flate = true
			} else if vt == tArrStart || vt == tName {
				return nil // another filter or a chain: not handled
			}
		}
	}
	l.skipSpace()
	if !bytes.HasPrefix(w[l.i:], []byte("stream")) || n <= 0 || first < 0 {
		return nil
	}
	p := l.i + 6
	if p < len(w) && w[p] == '\r' {
		p++
	}
	if p < len(w) && w[p] == '\n' {
		p++
	}
	var raw []byte
	if length >= 0 && p+length <= len(w) {
		raw = w[p : p+length]
	} else if e := bytes.Index(w[p:], []byte("endstream")); e >= 0 {
		raw = w[p : p+e]
	} else {
		return nil
	}
	data := raw
	if flate {
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil
		}
		data, _ = io.ReadAll(io.LimitReader(zr, maxObjStm))
	}
	if first > len(data) {
		return nil
	}
	hl := lexer{b: data[:first]}
	for range min(n, 1<<16) {
		t1, a := hl.next()
		t2, b := hl.next()
		if t1 != tNumber || t2 != tNumber {
			return nil
		}
		on, err1 := strconv.Atoi(string(a))
		off, err2 := strconv.Atoi(string(b))
		if err1 != nil || err2 != nil {
			return nil
		}
		if on == num {
			if off < 0 || off >= len(data)-first {
				return nil
			}
			return data[first+off:]
		}
	}
	return nil
}
