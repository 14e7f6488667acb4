package filetype

import (
	"bytes"
	"io"
	"strconv"
)

// PDFMeta is the document information of a PDF. ECS has no field for
// these: the event writer needs custom ones (e.g. file.x_pdf.author).
type PDFMeta struct {
	Version      string // from the header, e.g. "1.7"
	Title        string // /Title (XMP dc:title)
	Author       string // /Author (XMP dc:creator)
	Creator      string // /Creator: the authoring application (XMP xmp:CreatorTool)
	Producer     string // /Producer: the PDF writer (XMP pdf:Producer)
	CreationDate string // /CreationDate as written, e.g. "D:20260101120000Z"
	ModDate      string // /ModDate as written
	// Encrypted: the trailer has /Encrypt; the Info strings are then
	// ciphertext and are not reported.
	Encrypted bool
	FromXMP   bool // some values came from the XMP packet
}

// pdfDoc is the part of a PDF we look at: its first and last MiB (the
// same buffer when the file is smaller), and the file for xref lookups.
type pdfDoc struct {
	r          io.ReaderAt
	size       int64
	head, tail []byte
	objStms    int // object streams opened so far
}

func pdfMetadata(r io.ReaderAt, size int64) *PDFMeta {
	d := &pdfDoc{r: r, size: size}
	d.head = readAt(r, size, 0, int(min(size, maxPDFWindow)))
	if size > maxPDFWindow {
		d.tail = readAt(r, size, size-maxPDFWindow, maxPDFWindow)
	}
	m := &PDFMeta{}
	h := d.head[:min(len(d.head), 1024)]
	if i := bytes.Index(h, []byte("%PDF-")); i >= 0 {
		v := h[i+5:]
		n := 0
		for n < len(v) && n < 8 && (isDigit(v[n]) || v[n] == '.') {
			n++
		}
		m.Version = string(v[:n])
	}
	for _, w := range d.windows() {
		if bytes.Contains(w, []byte("/Encrypt")) {
			m.Encrypted = true
			return m
		}
	}
	if num, gen, ok := d.infoRef(); ok {
		if obj := d.object(num, gen); obj != nil {
			d.readInfo(obj, m)
		}
	}
	if m.Title == "" || m.Author == "" || m.Creator == "" || m.Producer == "" {
		for _, w := range d.windows() {
			if xmpPDF(w, m) {
				break
			}
		}
	}
	return m
}

// windows returns the buffers to search, the end of the file first
// (incremental updates append: the last definition wins).
func (d *pdfDoc) windows() [][]byte {
	if d.tail != nil {
		return [][]byte{d.tail, d.head}
	}
	return [][]byte{d.head}
}

// infoRef finds the last "/Info n g R" (in a trailer or a cross-reference
// stream's dictionary; a linearized file also has one near the start).
func (d *pdfDoc) infoRef() (num, gen int, ok bool) {
	for _, w := range d.windows() {
		end := len(w)
		for end > 0 {
			i := bytes.LastIndex(w[:end], []byte("/Info"))
			if i < 0 {
				break
			}
			end = i
			l := pdfLexer{b: w, i: i + 5}
			if l.i < len(w) && !isPDFSpace(w[l.i]) && !isPDFDelim(w[l.i]) {
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
func (l *pdfLexer) ref() (num, gen int, ok bool) {
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
// object streams of the windows.
func (d *pdfDoc) object(num, gen int) []byte {
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
		if after < len(w) && !isPDFSpace(w[after]) && !isPDFDelim(w[after]) {
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
		if j > 0 && !isPDFSpace(w[j-1]) && !isPDFDelim(w[j-1]) {
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
	for k > 0 && isPDFSpace(w[k-1]) && sp < 16 {
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
func (d *pdfDoc) readInfo(obj []byte, m *PDFMeta) {
	l := pdfLexer{b: obj}
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
				ol := pdfLexer{b: o}
				if vt, v := ol.next(); vt == tString {
					*dst = pdfText(v)
				}
			}
		case vt == tString:
			*dst = pdfText(v)
		}
	}
}
