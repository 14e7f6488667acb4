package filetype

import "io"

// pager caches up to 16 pages of 4 KiB of a file, so parsers that read
// many small pieces (PE import names, resource entries, CFB chains) make
// few syscalls and hold bounded memory (64 KiB). Pages are allocated as
// they are first needed: a small file costs one.
type pager struct {
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

const pagerPages = 16

func newPager(r io.ReaderAt, size int64) *pager { return &pager{r: r, size: size} }

// read copies the file's bytes at off into dst and returns how many it
// could (fewer at the end of the file or on a read error).
func (p *pager) read(off int64, dst []byte) int {
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

func (p *pager) page(off int64) *page {
	for _, pg := range p.pages {
		if pg.off == off {
			return pg
		}
	}
	var pg *page
	if len(p.pages) < pagerPages {
		pg = &page{}
		p.pages = append(p.pages, pg)
	} else {
		pg = p.pages[p.next]
		p.next = (p.next + 1) % pagerPages
	}
	pg.off = off
	pg.n, _ = p.r.ReadAt(pg.buf[:min(int64(len(pg.buf)), p.size-off)], off)
	if pg.n == 0 {
		pg.off = -1 // never matches: offsets are page aligned
		return nil
	}
	return pg
}

// bytes returns n bytes at off (a new slice), or nil when they are not
// all in the file.
func (p *pager) bytes(off int64, n int) []byte {
	if n < 0 || off < 0 || off+int64(n) > p.size {
		return nil
	}
	b := make([]byte, n)
	if p.read(off, b) != n {
		return nil
	}
	return b
}

// cstring reads a NUL-terminated string of at most max bytes at off; ok
// is false when no NUL came within max bytes or the file ended.
func (p *pager) cstring(off int64, max int) (s []byte, ok bool) {
	var buf [64]byte
	for len(s) < max {
		n := p.read(off+int64(len(s)), buf[:min(len(buf), max-len(s))])
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
