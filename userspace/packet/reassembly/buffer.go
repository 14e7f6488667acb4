package reassembly

import (
	"bytes"
	"sync"
)

// Out-of-order bytes live in pooled buffers of a few size classes, one
// buffer per held piece: a piece frees its memory as soon as it is
// delivered. 1536 fits the usual 1448/1460-byte segments with little
// waste, 9216 a jumbo frame. MaxBuffered counts bytes held; the Budget
// counts what holding them costs (pieceCost).
var classes = [...]int{64, 128, 256, 512, 1024, 1536, 2048, 4096, 9216, 16384, 32768, 65536}

// maxPiece is the largest piece; longer runs are held as several pieces.
const maxPiece = 65536

// pieceOverhead is the bookkeeping of one held piece beyond its buffer:
// the piece in the stream's slice, the pooled buffer's header and the
// allocator's rounding.
const pieceOverhead = 64

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

// pieceCost is the memory holding n bytes in one piece takes.
func pieceCost(n int64) int64 { return int64(classes[classOf(int(n))]) + pieceOverhead }

func getBuf(n int) *buf {
	i := classOf(n)
	if v := pools[i].Get(); v != nil {
		return v.(*buf)
	}
	return &buf{b: make([]byte, classes[i])}
}

func putBuf(b *buf) { pools[classOf(len(b.b))].Put(b) }

// piece is held bytes at stream offset off: b.b[lo:hi]. orig and origEnd
// are the offsets of the segment the bytes came from, which the overlap
// policies compare; origEnd counts a FIN, as Linux's end_seq does.
type piece struct {
	off           int64
	orig, origEnd int64
	b             *buf
	lo, hi        int32
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

// account records n more bytes held (negative: fewer) costing mem.
func (s *Stream) account(n, mem int64) {
	s.held += int(n)
	s.mem += mem
	if s.budget != nil {
		s.budget.Take(mem)
	}
}

// pop removes the first held piece; the caller owns its buffer.
func (s *Stream) pop() piece {
	pc := s.pieces[s.head]
	s.pieces[s.head] = piece{}
	s.head++
	s.account(-pc.len(), -(int64(len(pc.b.b)) + pieceOverhead))
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

// dropBefore frees held bytes behind the delivery point (after a skip, or
// after an in-order segment won over them).
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
		s.account(-k, 0)
		return
	}
}

// compare counts the bytes of p (at off) that are already held, and
// those of them that differ.
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

// newWins says whether a segment [segStart, segEnd) that arrived out of
// order replaces held bytes of pc.
func (s *Stream) newWins(pc *piece, segStart, segEnd int64) bool {
	switch s.policy {
	case PolicyLast:
		return true
	case PolicyLinux:
		if pc.orig != segStart {
			return pc.orig > segStart
		}
		return segEnd > pc.origEnd
	}
	return false
}

// split cuts piece i at offset at (inside it) into two, the second in a
// buffer of its own, and returns the index of the second.
func (s *Stream) split(i int, at int64) int {
	pc := s.pieces[i]
	k := at - pc.off
	tail := pc.data()[k:]
	b := getBuf(len(tail))
	copy(b.b, tail)
	s.pieces[i].hi = pc.lo + int32(k)
	s.pieces = append(s.pieces, piece{})
	copy(s.pieces[i+2:], s.pieces[i+1:])
	s.pieces[i+1] = piece{off: at, orig: pc.orig, origEnd: pc.origEnd, b: b, hi: int32(len(tail))}
	s.account(0, int64(len(b.b))+pieceOverhead)
	return i + 1
}

// overwrite applies the policy to the held bytes that [pos, end) (bytes p,
// from the segment [segStart, segEnd)) overlaps: where the segment wins,
// its bytes replace the held ones and it becomes their origin.
func (s *Stream) overwrite(pos, end int64, p []byte, segStart, segEnd int64) {
	if s.policy == PolicyFirst {
		return
	}
	for i := s.search(pos); i < len(s.pieces) && s.pieces[i].off < end; i++ {
		if !s.newWins(&s.pieces[i], segStart, segEnd) {
			continue
		}
		if s.pieces[i].off < pos {
			i = s.split(i, pos)
		}
		if s.pieces[i].end() > end {
			s.split(i, end)
		}
		pc := &s.pieces[i]
		copy(pc.data(), p[pc.off-pos:pc.end()-pos])
		pc.orig, pc.origEnd = segStart, segEnd
		s.stats.ReplacedBytes += uint64(pc.len())
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

// need is the bytes, pieces and memory holding [pos, end) would add.
func (s *Stream) need(pos, end int64) (n int64, pieces int, mem int64) {
	s.uncovered(pos, end, func(lo, hi int64, _ int) int {
		n += hi - lo
		for r := hi - lo; r > 0; r -= maxPiece {
			pieces++
			mem += pieceCost(min(r, maxPiece))
		}
		return 0
	})
	return n, pieces, mem
}

// store holds the bytes of [pos, end) not held yet; p starts at pos.
func (s *Stream) store(pos, end int64, p []byte, segStart, segEnd int64) {
	base := pos
	s.uncovered(pos, end, func(lo, hi int64, i int) int {
		k := 0
		for lo < hi {
			m := min(hi-lo, maxPiece)
			b := getBuf(int(m))
			copy(b.b, p[lo-base:lo-base+m])
			s.pieces = append(s.pieces, piece{})
			copy(s.pieces[i+k+1:], s.pieces[i+k:])
			s.pieces[i+k] = piece{off: lo, orig: segStart, origEnd: segEnd, b: b, hi: int32(m)}
			s.account(m, int64(len(b.b))+pieceOverhead)
			lo += m
			k++
		}
		return k
	})
}

// release frees every held buffer and the history.
func (s *Stream) release() {
	for s.hasHeld() {
		putBuf(s.pop().b)
	}
	if s.hist != nil {
		s.account(0, -histCost)
		s.hist = nil
	}
}
