package reassembly

import (
	"bytes"
	"sync"
)

// Out-of-order bytes live in pooled buffers of a few size classes, one
// buffer per held piece: a piece frees its memory as soon as it is
// delivered, and memory is at most 2x the bytes held, plus 64 bytes per
// piece (MaxSegments bounds pieces). 1536 fits the usual 1448/1460-byte
// segments with little waste, 9216 a jumbo frame. Limits and the Budget
// count bytes held, not this rounding.
var classes = [...]int{64, 128, 256, 512, 1024, 1536, 2048, 4096, 9216, 16384, 32768, 65536}

// maxPiece is the largest piece; longer runs are held as several pieces.
const maxPiece = 65536

// buf is pooled by pointer so that Get and Put do not allocate.
type buf struct{ b []byte }

var pools [len(classes)]sync.Pool

func classOf(n int) int {
	for i, c := range classes {
		if n <= c {
			return i
		}
	}
	return len(classes) - 1
}

func getBuf(n int) *buf {
	i := classOf(n)
	if v := pools[i].Get(); v != nil {
		return v.(*buf)
	}
	return &buf{b: make([]byte, classes[i])}
}

func putBuf(b *buf) { pools[classOf(len(b.b))].Put(b) }

// piece is held bytes at stream offset off: b.b[lo:hi].
type piece struct {
	off    int64
	b      *buf
	lo, hi int32
}

func (p *piece) len() int64     { return int64(p.hi - p.lo) }
func (p *piece) end() int64     { return p.off + p.len() }
func (p *piece) data() []byte   { return p.b.b[p.lo:p.hi] }
func (s *Stream) live() int     { return len(s.pieces) - s.head }
func (s *Stream) hasHeld() bool { return s.head < len(s.pieces) }

// firstOff is the offset of the first held byte, or noOff.
func (s *Stream) firstOff() int64 {
	if s.head < len(s.pieces) {
		return s.pieces[s.head].off
	}
	return noOff
}

// search is the index of the first held piece ending after off.
func (s *Stream) search(off int64) int {
	lo, hi := s.head, len(s.pieces)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.pieces[m].end() <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (s *Stream) hold(n int64) {
	s.held += int(n)
	if s.budget != nil {
		s.budget.used += n
	}
}

// pop removes the first held piece; the caller owns its buffer.
func (s *Stream) pop() piece {
	pc := s.pieces[s.head]
	s.pieces[s.head] = piece{}
	s.head++
	s.hold(-pc.len())
	s.tidy()
	return pc
}

// tidy reclaims the front of pieces once popped pieces pile up, and lets
// a big slice go once empty (a burst of reordering must not pin memory
// for the life of the flow).
func (s *Stream) tidy() {
	switch {
	case s.head == len(s.pieces):
		if cap(s.pieces) > 64 {
			s.pieces = nil
		} else {
			s.pieces = s.pieces[:0]
		}
		s.head = 0
	case s.head >= 16 && s.head*2 >= len(s.pieces):
		n := copy(s.pieces, s.pieces[s.head:])
		clear(s.pieces[n:])
		s.pieces = s.pieces[:n]
		s.head = 0
	}
}

// dropBefore frees held bytes behind the delivery point (after a skip).
func (s *Stream) dropBefore() {
	for s.hasHeld() {
		pc := &s.pieces[s.head]
		if pc.off >= s.next {
			return
		}
		if pc.end() <= s.next {
			putBuf(s.pop().b)
			continue
		}
		k := s.next - pc.off
		pc.lo += int32(k)
		pc.off = s.next
		s.hold(-k)
		return
	}
}

// compare counts the bytes of p (at off) that are already held, and
// those of them that differ: the held copy wins.
func (s *Stream) compare(off int64, p []byte) {
	end := off + int64(len(p))
	for i := s.search(off); i < len(s.pieces) && s.pieces[i].off < end; i++ {
		pc := &s.pieces[i]
		lo, hi := max(off, pc.off), min(end, pc.end())
		a, b := p[lo-off:hi-off], pc.data()[lo-pc.off:hi-pc.off]
		s.stats.DupBytes += uint64(hi - lo)
		s.stats.OverlapBytes += uint64(hi - lo)
		if !bytes.Equal(a, b) {
			n := 0
			for j := range a {
				if a[j] != b[j] {
					n++
				}
			}
			s.stats.ConflictBytes += uint64(n)
		}
	}
}

// uncovered calls f for each run of [pos, end) not held, in order. i is
// the index of the held piece after the run; f may insert pieces there
// and returns how many it inserted.
func (s *Stream) uncovered(pos, end int64, f func(lo, hi int64, i int) (inserted int)) {
	i := s.search(pos)
	for pos < end {
		hi := end
		if i < len(s.pieces) && s.pieces[i].off < end {
			if s.pieces[i].off <= pos {
				pos = s.pieces[i].end()
				i++
				continue
			}
			hi = s.pieces[i].off
		}
		i += f(pos, hi, i)
		pos = hi
	}
}

// need is the bytes and pieces holding [pos, end) would add.
func (s *Stream) need(pos, end int64) (n int64, pieces int) {
	s.uncovered(pos, end, func(lo, hi int64, _ int) int {
		n += hi - lo
		pieces += int((hi - lo + maxPiece - 1) / maxPiece)
		return 0
	})
	return n, pieces
}

// store holds the bytes of [pos, end) not held yet; p starts at pos.
func (s *Stream) store(pos, end int64, p []byte) {
	base := pos
	s.uncovered(pos, end, func(lo, hi int64, i int) int {
		k := 0
		for lo < hi {
			m := min(hi-lo, maxPiece)
			b := getBuf(int(m))
			copy(b.b, p[lo-base:lo-base+m])
			s.pieces = append(s.pieces, piece{})
			copy(s.pieces[i+k+1:], s.pieces[i+k:])
			s.pieces[i+k] = piece{off: lo, b: b, hi: int32(m)}
			s.hold(m)
			lo += m
			k++
		}
		return k
	})
}

// release frees every held buffer.
func (s *Stream) release() {
	for s.hasHeld() {
		putBuf(s.pop().b)
	}
}
