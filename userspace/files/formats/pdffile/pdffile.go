// Package pdffile reads a PDF once into a bounded model that both the
// metadata (the document information) and the static analyzers (the
// names that make a PDF act rather than display) read.
//
// Two walks share one read of the file. The document information is
// found the way a reader finds it, through the trailer's /Info, the
// object it names (in the first or last MiB, through the classic
// cross-reference tables, or inside an object stream), with XMP as the
// fallback. The keyword count is deliberately not structural: names
// are counted wherever they appear, strings and broken objects
// included, so that a file cannot hide an action by malforming the
// object around it; object streams are inflated and counted too.
//
// Everything is bounded: the file is read in 1 MiB chunks (the first
// also serving the metadata walk) up to a limit, at most 16 object
// streams are inflated per walk, each to 4 MiB, strings are cut to 2 KiB
// and values to 512 bytes. Parse never panics.
package pdffile

import (
	"bytes"
	"io"
	"strconv"

	"github.com/edgesensor/edgesensor/userspace/files/formats/internal/pager"
)

// Bounds on the work Parse does on one untrusted file.
const (
	Window     = 1 << 20 // the metadata walk reads the first and the last MiB
	maxObjStm  = 4 << 20 // one object stream, inflated
	maxObjStms = 16      // object streams inflated, per walk
	maxLookups = 16      // objects looked up per file: the Info dictionary and its indirect values
	refSpan    = 64      // bytes after /Info where its "n g R" must be
)

// File is what a PDF says about itself.
type File struct {
	Version string // from the header, e.g. "1.7"
	Info    Info
	// Encrypted: the trailer has /Encrypt; the Info strings are then
	// ciphertext and are not read.
	Encrypted bool
	FromXMP   bool // some Info values came from the XMP packet

	// Keywords counts the names that make a PDF act, in the bytes read
	// and in the object streams they hold.
	Keywords Keywords
}

// Info is the document information dictionary (or what XMP says).
type Info struct {
	Title        string // /Title (XMP dc:title)
	Author       string // /Author (XMP dc:creator)
	Creator      string // /Creator: the authoring application (XMP xmp:CreatorTool)
	Producer     string // /Producer: the PDF writer (XMP pdf:Producer)
	CreationDate string // /CreationDate as written, e.g. "D:20260101120000Z"
	ModDate      string // /ModDate as written
}

// Parse reads the PDF in the size bytes of r: the metadata from the
// first and last MiB (and objects they point at), the keywords from the
// first maxRead bytes.
func Parse(r io.ReaderAt, size, maxRead int64) *File {
	f := &File{}
	if r == nil || size <= 0 {
		return f
	}
	d := &doc{r: r, size: size}
	d.head = pager.ReadAt(r, size, 0, int(min(size, Window)))
	if size > Window {
		d.tail = pager.ReadAt(r, size, size-Window, Window)
	}
	f.readMeta(d)
	f.Keywords = scanKeywords(r, min(size, maxRead), d.head, scanChunk)
	return f
}

// doc is the part of a PDF the metadata walk looks at: its first and
// last MiB (only the first when the file is smaller), and the file for
// xref lookups.
type doc struct {
	r          io.ReaderAt
	size       int64
	head, tail []byte
	objStms    int // object streams opened so far
	lookups    int // objects looked up so far
}

func (f *File) readMeta(d *doc) {
	h := d.head[:min(len(d.head), 1024)]
	if i := bytes.Index(h, []byte("%PDF-")); i >= 0 {
		v := h[i+5:]
		n := 0
		for n < len(v) && n < 8 && (isDigit(v[n]) || v[n] == '.') {
			n++
		}
		f.Version = string(v[:n])
	}
	for _, w := range d.windows() {
		if bytes.Contains(w, []byte("/Encrypt")) {
			f.Encrypted = true
			return
		}
	}
	if num, gen, ok := d.infoRef(); ok {
		if obj := d.object(num, gen); obj != nil {
			d.readInfo(obj, &f.Info)
		}
	}
	if i := &f.Info; i.Title == "" || i.Author == "" || i.Creator == "" || i.Producer == "" {
		for _, w := range d.windows() {
			if found, fromXMP := xmpInfo(w, i); found {
				f.FromXMP = fromXMP
				break
			}
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// windows returns the buffers to search, the end of the file first
// (incremental updates append: the last definition wins).
func (d *doc) windows() [][]byte {
	if d.tail != nil {
		return [][]byte{d.tail, d.head}
	}
	return [][]byte{d.head}
}

// infoRef finds the last "/Info n g R" (in a trailer or a cross-reference
// stream's dictionary; a linearized file also has one near the start).
func (d *doc) infoRef() (num, gen int, ok bool) {
	for _, w := range d.windows() {
		end := len(w)
		for end > 0 {
			i := bytes.LastIndex(w[:end], []byte("/Info"))
			if i < 0 {
				break
			}
			end = i
			// The lexer sees only refSpan bytes: an unclosed string or a
			// comment after every "/Info" would otherwise be read to the
			// end of the window each time.
			l := lexer{b: w[:min(len(w), i+5+refSpan)], i: i + 5}
			if l.i < len(w) && !isSpace(w[l.i]) && !isDelim(w[l.i]) {
				continue // "/InfoXYZ"
			}
			if n, g, ok := l.ref(); ok {
				return n, g, true
			}
		}
	}
	return 0, 0, false
}

// ref reads "n g R".
func (l *lexer) ref() (num, gen int, ok bool) {
	save := l.i
	t1, a := l.next()
	t2, b := l.next()
	t3, c := l.next()
	if t1 == tNumber && t2 == tNumber && t3 == tKeyword && string(c) == "R" {
		n, err1 := strconv.Atoi(string(a))
		g, err2 := strconv.Atoi(string(b))
		if err1 == nil && err2 == nil && n > 0 && g >= 0 {
			return n, g, true
		}
	}
	l.i = save
	return 0, 0, false
}

// object returns the bytes of object num (from just after "obj"), looked
// for in the windows, then through the classic xref tables, then in the
// object streams of the windows. Each lookup may scan the windows, so a
// file gets maxLookups: an Info dictionary repeating "/Title 7 0 R"
// thousands of times would otherwise cost seconds.
func (d *doc) object(num, gen int) []byte {
	if d.lookups >= maxLookups {
		return nil
	}
	d.lookups++
	for _, w := range d.windows() {
		if i := findObj(w, num, gen); i >= 0 {
			return w[i:]
		}
	}
	if b := d.xrefObject(num, gen); b != nil {
		return b
	}
	if gen == 0 {
		return d.objStmObject(num)
	}
	return nil
}

// findObj finds the last "num gen obj" in w with token boundaries and
// returns the offset just after it, or -1.
func findObj(w []byte, num, gen int) int {
	end := len(w)
	for end > 0 {
		i := bytes.LastIndex(w[:end], []byte("obj"))
		if i < 0 {
			return -1
		}
		end = i
		after := i + 3
		if after < len(w) && !isSpace(w[after]) && !isDelim(w[after]) {
			continue
		}
		j := i
		g, ok := backNumber(w, &j)
		if !ok {
			continue
		}
		n, ok := backNumber(w, &j)
		if !ok || n != num || g != gen {
			continue
		}
		if j > 0 && !isSpace(w[j-1]) && !isDelim(w[j-1]) {
			continue
		}
		return after
	}
	return -1
}

// backNumber reads, backwards from *j, at least one space and then a
// decimal number, leaving *j at the number's first digit.
func backNumber(w []byte, j *int) (int, bool) {
	k := *j
	sp := 0
	for k > 0 && isSpace(w[k-1]) && sp < 16 {
		k--
		sp++
	}
	if sp == 0 {
		return 0, false
	}
	e := k
	for k > 0 && isDigit(w[k-1]) && e-k < 10 {
		k--
	}
	if k == e {
		return 0, false
	}
	v, err := strconv.Atoi(string(w[k:e]))
	if err != nil {
		return 0, false
	}
	*j = k
	return v, true
}

// readInfo reads the Info dictionary at obj (the bytes after "obj");
// values may be indirect (one level is followed).
func (d *doc) readInfo(obj []byte, m *Info) {
	l := lexer{b: obj}
	if t, _ := l.next(); t != tDictStart {
		return
	}
	for steps := 0; steps < 4096; steps++ {
		t, k := l.next()
		if t == tDictEnd || t == tEOF {
			return
		}
		if t != tName {
			l.skipValue(t)
			continue
		}
		var dst *string // nil: a key we do not keep
		switch string(k) {
		case "Title":
			dst = &m.Title
		case "Author":
			dst = &m.Author
		case "Creator":
			dst = &m.Creator
		case "Producer":
			dst = &m.Producer
		case "CreationDate":
			dst = &m.CreationDate
		case "ModDate":
			dst = &m.ModDate
		}
		vt, v, n, g, isRef := l.value()
		switch {
		case dst == nil:
		case isRef:
			if o := d.object(n, g); o != nil {
				ol := lexer{b: o}
				if vt, v := ol.next(); vt == tString {
					*dst = pdfText(v)
				}
			}
		case vt == tString:
			*dst = pdfText(v)
		}
	}
}
