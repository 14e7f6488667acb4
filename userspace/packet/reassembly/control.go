package reassembly

// Acked tells s that the peer acknowledged every byte before ack: bytes
// before it that never arrived are lost for good, so they become a gap
// and what s holds after them is delivered. The caller should pass the
// ACKs it sees in capture order, after the segments before them: an ACK
// handled before the data it acknowledges declares a false gap (the data
// is then counted in Stats.LateBytes). An ack more than Window ahead is
// ignored.
func (s *Stream) Acked(ack uint32, c Consumer) {
	if !s.started || s.flushed {
		return
	}
	if c == nil {
		c = discard{}
	}
	s.deliver(c)
	d := int64(int32(ack - s.NextSeq()))
	if d <= 0 || d > s.window {
		return
	}
	target := s.next + d
	if s.fin {
		target = min(target, s.finOff) // the FIN's own sequence number
	}
	for s.next < target {
		s.gap(min(target, s.firstOff())-s.next, c)
		s.stats.AckGaps++
		s.deliver(c)
	}
}

// Skip drops the next n bytes from the delivery point on, as if
// delivered: held bytes of the range are freed, a held segment straddling
// its end is cut, and segments arriving later inside it are dropped.
// Bytes of the range never seen are not gaps. What became in order is
// delivered to c, or at the next call when c is nil.
func (s *Stream) Skip(n int64, c Consumer) {
	s.init()
	if s.flushed {
		return
	}
	s.skip(n)
	if c != nil {
		s.deliver(c)
	}
}

// Flush ends the stream (FIN seen and peer done, RST, idle expiry, flow
// eviction): held bytes are delivered, with a gap for each hole before
// them, and, after a FIN, the bytes missing before it are a gap. Later
// segments are ignored until Reset or Init.
func (s *Stream) Flush(c Consumer) {
	s.init()
	if s.flushed {
		return
	}
	if c == nil {
		c = discard{}
	}
	s.deliver(c)
	for s.hasHeld() {
		s.gap(s.firstOff()-s.next, c)
		s.deliver(c)
	}
	if s.fin && s.next < s.finOff {
		s.gap(s.finOff-s.next, c)
	}
	s.flushed = true
	s.release()
}
