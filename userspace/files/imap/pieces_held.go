package imap

import (
	"bytes"
	"sort"
)

// Bytes and gaps of pieces held ahead of the chain's next offset, until
// the bytes before them come.

// trimHeld drops the held bytes [at, at+n) covers, checking them against
// b (nil for a gap). It reports false on a conflict.
func (p *Parser) trimHeld(at int64, b []byte, n int64) bool {
	ch := &p.chain
	end := at + n
	for len(ch.held) > 0 && ch.held[0].off < end {
		s := &ch.held[0]
		k := min(s.end(), end) - s.off
		if b != nil && s.gap == 0 && !bytes.Equal(s.data[:k], b[s.off-at:s.off-at+k]) {
			p.pieceConflict()
			return false
		}
		if s.gap > 0 {
			s.gap -= k
		} else {
			s.data = s.data[k:]
			ch.heldN -= k
		}
		s.off += k
		if s.gap == 0 && len(s.data) == 0 {
			ch.held = append(ch.held[:0], ch.held[1:]...)
		}
	}
	return true
}

// drainHeld writes the held runs that now follow on.
func (p *Parser) drainHeld() {
	ch := &p.chain
	for ch.active && ch.msg != nil && len(ch.held) > 0 && ch.held[0].off == ch.next {
		s := ch.held[0]
		ch.held = append(ch.held[:0], ch.held[1:]...)
		if s.gap > 0 {
			p.chainGap(s.gap)
		} else {
			ch.heldN -= int64(len(s.data))
			p.chainWrite(s.data)
		}
	}
}

// hold keeps b, at offset at (past next), checking it against the held
// bytes it overlaps. hint is how many bytes of the piece are still to
// come (the first run's capacity).
func (p *Parser) hold(at int64, b []byte, hint int64) {
	ch := &p.chain
	for len(b) > 0 && ch.active {
		i := sort.Search(len(ch.held), func(i int) bool { return ch.held[i].end() > at })
		if i < len(ch.held) && ch.held[i].off <= at {
			s := &ch.held[i]
			k := min(int64(len(b)), s.end()-at)
			if s.gap == 0 && !bytes.Equal(s.data[at-s.off:at-s.off+k], b[:k]) {
				p.pieceConflict()
				return
			}
			at += k
			b = b[k:]
			continue
		}
		k := int64(len(b))
		if i < len(ch.held) {
			k = min(k, ch.held[i].off-at)
		}
		join := i > 0 && ch.held[i-1].gap == 0 && ch.held[i-1].end() == at
		// The bound is on the buffers held (their capacity), not only
		// on the bytes in them: a run is sized for the rest of its
		// piece, and a gap in the piece starts another.
		room := p.opt.MaxPieceHold - ch.heldCap()
		if ch.heldN+k > p.opt.MaxPieceHold || !join && (len(ch.held) >= maxSegments || k > room) {
			p.dropHeld()
			return
		}
		if join {
			s := &ch.held[i-1]
			if free := int64(cap(s.data) - len(s.data)); free < k {
				c := min(max(2*int64(cap(s.data)), int64(len(s.data))+k), room+int64(cap(s.data)))
				if c < int64(len(s.data))+k {
					p.dropHeld()
					return
				}
				s.data = append(make([]byte, 0, c), s.data...)
			}
			s.data = append(s.data, b[:k]...)
		} else {
			c := min(max(hint, k), room)
			d := append(make([]byte, 0, c), b[:k]...)
			ch.held = append(ch.held, segment{})
			copy(ch.held[i+1:], ch.held[i:])
			ch.held[i] = segment{off: at, data: d}
		}
		ch.heldN += k
		at += k
		hint -= k
		b = b[k:]
	}
}

// holdGap keeps a gap of n bytes at offset at (past next), where
// nothing is held.
func (p *Parser) holdGap(at, n int64) {
	ch := &p.chain
	for n > 0 {
		i := sort.Search(len(ch.held), func(i int) bool { return ch.held[i].end() > at })
		if i < len(ch.held) && ch.held[i].off <= at {
			k := min(n, ch.held[i].end()-at)
			at, n = at+k, n-k
			continue
		}
		k := n
		if i < len(ch.held) {
			k = min(k, ch.held[i].off-at)
		}
		if i > 0 && ch.held[i-1].gap > 0 && ch.held[i-1].end() == at {
			ch.held[i-1].gap += k
		} else {
			if len(ch.held) >= maxSegments {
				p.dropHeld()
				return
			}
			ch.held = append(ch.held, segment{})
			copy(ch.held[i+1:], ch.held[i:])
			ch.held[i] = segment{off: at, gap: k}
		}
		at, n = at+k, n-k
	}
}

// heldCap is what the held runs' buffers take (maxSegments of them).
func (ch *chain) heldCap() int64 {
	var n int64
	for i := range ch.held {
		n += int64(cap(ch.held[i].data))
	}
	return n
}

// dropHeld gives up holding more of the piece under way.
func (p *Parser) dropHeld() {
	if !p.chain.dropped {
		p.chain.dropped = true
		p.st.PieceLimit++
	}
}
