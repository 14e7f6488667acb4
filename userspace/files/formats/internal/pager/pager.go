// Package pager reads untrusted files through an io.ReaderAt with
// bounded memory: a small cache of 4 KiB pages for parsers that read many
// small pieces (PE import names, resource entries, CFB chains, ELF
// section headers), and helpers for one-off reads that clamp to the file.
package pager

import "io"

// Pager caches up to Pages pages of 4 KiB of a file, so parsers that
// read many small pieces make few system calls and hold bounded memory
// (64 KiB). Pages are allocated as they are first needed: a small file
// costs one.
type Pager struct {
	r     io.ReaderAt
	size  int64
	pages []*page
	next  int // the page to reuse once all are in use
}

type page struct {
	off int64
	n   int
	buf [4096]byte
}

// Pages is how many pages a Pager holds at most.
const Pages = 16

// New returns a Pager over the size bytes of r.
func New(r io.ReaderAt, size int64) *Pager { return &Pager{r: r, size: size} }

// Size is the size of the file the Pager reads.
func (p *Pager) Size() int64 { return p.size }

// Read copies the file's bytes at off into dst and returns how many it
// could (fewer at the end of the file or on a read error).
func (p *Pager) Read(off int64, dst []byte) int {
	n := 0
	for n < len(dst) {
		o := off + int64(n)
		if o < 0 || o >= p.size {
			break
		}
		pg := p.page(o &^ 4095)
		if pg == nil {
			break
		}
		i := int(o & 4095)
		if i >= pg.n {
			break
		}
		n += copy(dst[n:], pg.buf[i:pg.n])
	}
	return n
}

func (p *Pager) page(off int64) *page {
	for _, pg := range p.pages {
		if pg.off == off {
			return pg
		}
	}
	var pg *page
	if len(p.pages) < Pages {
		pg = &page{}
		p.pages = append(p.pages, pg)
	} else {
		pg = p.pages[p.next]
		p.next = (p.next + 1) % Pages
	}
	pg.off = off
	pg.n, _ = p.r.ReadAt(pg.buf[:min(int64(len(pg.buf)), p.size-off)], off)
	if pg.n == 0 {
		pg.off = -1 // never matches: offsets are page aligned
		return nil
	}
	return pg
}

// Bytes returns n bytes at off (a new slice), or nil when they are not
// all in the file.
func (p *Pager) Bytes(off int64, n int) []byte {
	if n < 0 || off < 0 || off+int64(n) > p.size {
		return nil
	}
	b := make([]byte, n)
	if p.Read(off, b) != n {
		return nil
	}
	return b
}

// CString reads a NUL-terminated string of at most max bytes at off; ok
// is false when no NUL came within max bytes or the file ended.
func (p *Pager) CString(off int64, max int) (s []byte, ok bool) {
	var buf [64]byte
	for len(s) < max {
		n := p.Read(off+int64(len(s)), buf[:min(len(buf), max-len(s))])
		if n == 0 {
			return s, false
		}
		for i, c := range buf[:n] {
			if c == 0 {
				return append(s, buf[:i]...), true
			}
		}
		s = append(s, buf[:n]...)
	}
	return s, false
}

// ReadAt reads n bytes at off of a file of size bytes, fewer at the end
// of the file or on a read error; nil when off is outside the file. n is
// capped by the caller.
func ReadAt(r io.ReaderAt, size, off int64, n int) []byte {
	if off < 0 || off >= size || n <= 0 {
		return nil
	}
	if rem := size - off; int64(n) > rem {
		n = int(rem)
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if err != nil && got < n {
		b = b[:got]
	}
	return b
}

// ReadFull reads exactly n bytes at off, or returns nil.
func ReadFull(r io.ReaderAt, off int64, n int) []byte {
	if off < 0 || n <= 0 {
		return nil
	}
	b := make([]byte, n)
	if k, _ := r.ReadAt(b, off); k < n {
		return nil
	}
	return b
}

// Zeros reads n zero bytes: what a disk reads for a sparse or unrecorded
// extent, or past a file's initialized size.
func Zeros(n int64) io.Reader { return io.LimitReader(zeros{}, n) }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
