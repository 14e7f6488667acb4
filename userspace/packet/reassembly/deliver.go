package reassembly

import (
	"hash/maphash"
)

// add places p (at off, not behind the delivery point), from the segment
// [segStart, segEnd), and delivers what is in order. Where the bytes are
// held already, the policy picks the copy. What remains out of order is
// copied, unless a limit forbids it: then the oldest hole becomes a gap,
// and so on until the rest fits or is in order.
func (s *Stream) add(off int64, p []byte, segStart, segEnd int64, c Consumer) {
	end := off + int64(len(p))
	if off > s.next && s.policy != PolicyFirst {
		s.overwrite(off, end, p, segStart, segEnd)
		// Splitting held pieces may have gone past the limits: the oldest
		// holes before the segment become gaps until it fits again.
		for s.hasHeld() && (s.live() > s.maxSegs+2 || s.budget != nil && s.budget.Over()) && off > s.next {
			if s.live() > s.maxSegs+2 {
				s.stats.LimitGaps++
			} else {
				s.stats.BudgetGaps++
			}
			s.gap(min(s.firstOff(), off)-s.next, c)
			s.deliver(c)
		}
		if end <= s.next {
			return
		}
		if off < s.next {
			p = p[s.next-off:]
			off = s.next
		}
	}
	if off == s.next && s.policy != PolicyFirst {
		// In order: the segment wins over bytes held out of order (a
		// Linux receiver queues it at once; the queued copies behind
		// the new delivery point are dropped).
		if s.hasHeld() {
			s.compare(off, p)
			s.countReplaced(off, end)
		}
		s.emit(p, c)
		s.dropBefore()
		s.deliver(c)
		return
	}
	pos := off
	for {
		s.deliver(c)
		pos = max(pos, s.next) // before: delivered from held, or skipped
		if pos >= end {
			return
		}
		first := s.firstOff()
		if pos == s.next {
			hi := min(end, first)
			s.emit(p[pos-off:hi-off], c)
			pos = hi
			continue
		}
		n, k, mem := s.need(pos, end)
		if n == 0 {
			return // all held already
		}
		switch {
		case int64(s.held)+n > int64(s.maxBuf) || s.live()+k > s.maxSegs:
			s.stats.LimitGaps++
		case s.budget != nil && !s.budget.allows(mem):
			s.stats.BudgetGaps++
		default:
			s.store(pos, end, p[pos-off:], segStart, segEnd)
			s.stats.OutOfOrder++
			return
		}
		s.gap(min(first, pos)-s.next, c)
	}
}

// countReplaced counts the held bytes in [off, end) an in-order segment
// is about to take the place of.
func (s *Stream) countReplaced(off, end int64) {
	for i := s.search(off); i < len(s.pieces) && s.pieces[i].off < end; i++ {
		pc := &s.pieces[i]
		s.stats.ReplacedBytes += uint64(min(end, pc.end()) - max(off, pc.off))
	}
}

// deliver hands c the held bytes at the delivery point.
func (s *Stream) deliver(c Consumer) {
	for s.hasHeld() && s.pieces[s.head].off <= s.next {
		if s.pieces[s.head].off < s.next {
			s.dropBefore() // only after a skip
			continue
		}
		// Detached before the call, so a consumer calling back finds a
		// consistent stream.
		pc := s.pop()
		s.emit(pc.data(), c)
		putBuf(pc.b)
	}
}

// emit delivers p, at the delivery point, leaving out urgent bytes, and
// applies the consumer's skip.
func (s *Stream) emit(p []byte, c Consumer) {
	at := s.next
	s.remember(at, p)
	if len(s.urgent) > 0 && s.urgent[0] < at+int64(len(p)) {
		s.emitAround(at, p, c)
		return
	}
	s.next += int64(len(p))
	s.stats.Delivered += uint64(len(p))
	s.skip(c.Data(p))
}

// emitAround delivers p (at offset at, the delivery point) without its
// urgent bytes. The delivery point moves past each part before the
// consumer gets it, as in emit; a skip the consumer asks for counts the
// bytes it would have been given.
func (s *Stream) emitAround(at int64, p []byte, c Consumer) {
	end := at + int64(len(p))
	var pend int64 // bytes still to skip
	for s.next < end {
		for len(s.urgent) > 0 && s.urgent[0] < s.next {
			s.urgent = s.urgent[1:]
		}
		u := end
		if len(s.urgent) > 0 && s.urgent[0] < end {
			u = s.urgent[0]
		}
		if pend > 0 {
			k := min(pend, u-s.next)
			pend -= k
			s.next += k
			s.stats.Skipped += uint64(k)
		}
		if s.next < u {
			q := p[s.next-at : u-at]
			s.next = u
			s.stats.Delivered += uint64(len(q))
			pend = c.Data(q)
		}
		if u < end && s.next == u {
			s.urgent = s.urgent[1:]
			s.stats.UrgentBytes++
			s.urgentDone++
			s.next = u + 1
		}
	}
	s.skip(pend)
}

func (s *Stream) skip(n int64) {
	n = min(n, maxOff-s.next)
	if n <= 0 {
		return
	}
	if s.next != s.skipHi {
		s.skipLo = s.next
	}
	s.next += n
	s.skipHi = s.next
	s.stats.Skipped += uint64(n)
	s.dropBefore()
}

// gap declares the next n bytes missing.
func (s *Stream) gap(n int64, c Consumer) {
	if s.next != s.gapHi {
		s.gapLo = s.next
	}
	s.next += n
	s.gapHi = s.next
	s.stats.Gaps++
	s.stats.GapBytes += uint64(n)
	c.Gap(n)
}

// The history of delivered bytes: a hash of each of the last histN
// deliveries, so a retransmission of delivered bytes with other content
// (a copy that reached the sensor and perhaps not the host, as a decoy
// with a short TTL does) is seen, and the consumer told (Conflicter).
const histN = 32

type histRec struct {
	off int64
	n   int32
	sum uint64
}

// histCost is the memory of one stream's history.
const histCost = histN*24 + 16

var histSeed = maphash.MakeSeed()

func (s *Stream) remember(off int64, p []byte) {
	if len(p) == 0 {
		return
	}
	if s.hist == nil {
		s.hist = new([histN]histRec)
		s.account(0, histCost)
	}
	s.hist[s.histPos%histN] = histRec{off: off, n: int32(len(p)), sum: maphash.Bytes(histSeed, p)}
	s.histPos++
}

// verify compares p, at offset off and entirely behind the delivery
// point, with the deliveries it covers. It returns whether a difference
// was found; bytes no remembered delivery covers whole are counted as
// unverified.
func (s *Stream) verify(off int64, p []byte) bool {
	end := off + int64(len(p))
	covered := int64(0)
	if s.hist != nil {
		for _, r := range s.hist {
			if r.n == 0 || r.off < off || r.off+int64(r.n) > end {
				continue
			}
			covered += int64(r.n)
			if maphash.Bytes(histSeed, p[r.off-off:r.off-off+int64(r.n)]) != r.sum {
				return true
			}
		}
	}
	if unv := int64(len(p)) - covered; unv > 0 {
		s.stats.UnverifiedBytes += uint64(unv)
	}
	return false
}
