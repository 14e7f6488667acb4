package reassembly

// add places p (at off, not behind the delivery point) and delivers what
// is in order: held bytes first where both cover an offset (the held copy
// came first), the caller's slice directly elsewhere. What remains out of
// order is copied, unless a limit forbids it: then the oldest hole
// becomes a gap, and so on until the rest fits or is in order.
func (s *Stream) add(off int64, p []byte, c Consumer) {
	end := off + int64(len(p))
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
		n, k := s.need(pos, end)
		if n == 0 {
			return // all held already
		}
		switch {
		case int64(s.held)+n > int64(s.maxBuf) || s.live()+k > s.maxSegs:
			s.stats.LimitGaps++
		case s.budget != nil && !s.budget.allows(n):
			s.stats.BudgetGaps++
		default:
			s.store(pos, end, p[pos-off:])
			s.stats.OutOfOrder++
			return
		}
		s.gap(min(first, pos)-s.next, c)
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

// emit delivers p, at the delivery point, and applies the consumer's skip.
func (s *Stream) emit(p []byte, c Consumer) {
	s.next += int64(len(p))
	s.stats.Delivered += uint64(len(p))
	s.skip(c.Data(p))
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
