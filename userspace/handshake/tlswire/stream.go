// Package tlswire reads TLS handshakes off the wire: it reassembles one
// direction of a TCP connection from the segments the data plane emitted,
// splits it into TLS records and handshake messages, and parses the
// ClientHello, ServerHello and Certificate. Every length comes from the
// wire and is checked before use; every buffer has a limit.
package tlswire

import "math"

// Stream reassembles one direction of a TCP connection from segments that
// may arrive out of order, twice, or overlapping. Bytes are placed by
// sequence number relative to the lowest one seen; the first copy of a
// byte wins (later copies of the same range are ignored). The stream never
// grows beyond its limit: bytes past it are dropped and counted.
type Stream struct {
	limit   int
	base    uint32 // sequence number of data[0]
	started bool
	pinned  bool // the start is known: bytes before it are not part of the stream
	data    []byte
	spans   []span // filled ranges of data, sorted, merged
	// Overflow counts payload bytes that fell outside the limit.
	Overflow int
	// Conflicts counts retransmitted bytes that differed from the first
	// copy (the first copy is kept).
	Conflicts int
}

type span struct{ start, end int }

// NewStream makes a stream that holds at most limit bytes.
func NewStream(limit int) *Stream { return &Stream{limit: limit} }

// Reset empties the stream for reuse.
func (s *Stream) Reset() {
	s.started, s.pinned, s.base = false, false, 0
	s.data, s.spans = s.data[:0], s.spans[:0]
	s.Overflow, s.Conflicts = 0, 0
}

// Start fixes the stream's first sequence number (a QUIC CRYPTO stream
// starts at offset 0), instead of taking the lowest one seen.
func (s *Stream) Start(seq uint32) {
	if !s.started {
		s.started, s.base = true, seq
	}
	s.pinned = true
}

// Pin declares the current first byte the start of the stream (the
// caller recognised it): earlier bytes arriving later are ignored.
func (s *Stream) Pin() { s.pinned = true }

// Add places payload at sequence number seq.
func (s *Stream) Add(seq uint32, payload []byte) {
	if len(payload) == 0 {
		return
	}
	if !s.started {
		s.started, s.base = true, seq
	}
	d := int32(seq - s.base)
	if d == math.MinInt32 {
		// Half the sequence space away: neither before nor after; and
		// -d would overflow an int on 32-bit machines.
		s.Overflow += len(payload)
		return
	}
	off := int(d)
	if off < 0 && s.pinned {
		if -off >= len(payload) {
			return // entirely before the start
		}
		payload = payload[-off:]
		off = 0
	}
	if off < 0 {
		// Data from before the current start (reordering): shift what we
		// have, if the limit allows.
		shift := -off
		if shift+s.end() > s.limit {
			s.Overflow += len(payload)
			return
		}
		s.data = append(s.data, make([]byte, shift)...)
		copy(s.data[shift:], s.data[:len(s.data)-shift])
		for i := range s.spans {
			s.spans[i].start += shift
			s.spans[i].end += shift
		}
		s.base -= uint32(shift)
		off = 0
	}
	end := off + len(payload)
	if end > s.limit {
		s.Overflow += end - max(off, s.limit)
		if off >= s.limit {
			return
		}
		payload = payload[:s.limit-off]
		end = s.limit
	}
	if end > len(s.data) {
		s.data = append(s.data, make([]byte, end-len(s.data))...)
	}
	// Copy only the parts not filled yet; compare the rest.
	pos := off
	for _, sp := range s.spans {
		if sp.end <= pos || sp.start >= end {
			continue
		}
		if sp.start > pos {
			copy(s.data[pos:sp.start], payload[pos-off:sp.start-off])
		}
		ov0, ov1 := max(pos, sp.start), min(end, sp.end)
		for i := ov0; i < ov1; i++ {
			if s.data[i] != payload[i-off] {
				s.Conflicts++
				break
			}
		}
		pos = max(pos, sp.end)
	}
	if pos < end {
		copy(s.data[pos:end], payload[pos-off:])
	}
	s.insert(span{off, end})
}

func (s *Stream) end() int {
	if len(s.spans) == 0 {
		return 0
	}
	return s.spans[len(s.spans)-1].end
}

// insert adds a filled range, keeping spans sorted and merged, in place.
func (s *Stream) insert(n span) {
	// In order (the common case): extend or follow the last span.
	if k := len(s.spans); k == 0 || s.spans[k-1].end < n.start {
		s.spans = append(s.spans, n)
		return
	} else if s.spans[k-1].start <= n.start {
		s.spans[k-1].end = max(s.spans[k-1].end, n.end)
		return
	}
	// First span that n touches or precedes, and the first it does not reach.
	i := 0
	for i < len(s.spans) && s.spans[i].end < n.start {
		i++
	}
	j := i
	for j < len(s.spans) && s.spans[j].start <= n.end {
		n.start, n.end = min(n.start, s.spans[j].start), max(n.end, s.spans[j].end)
		j++
	}
	if i == j {
		s.spans = append(s.spans, span{})
		copy(s.spans[i+1:], s.spans[i:])
		s.spans[i] = n
		return
	}
	s.spans[i] = n
	s.spans = append(s.spans[:i+1], s.spans[j:]...)
}

// Contiguous returns the bytes from the start of the stream up to the
// first gap. The slice is valid until the next Add.
func (s *Stream) Contiguous() []byte {
	if len(s.spans) == 0 || s.spans[0].start != 0 {
		return nil
	}
	return s.data[:s.spans[0].end]
}

// Gaps reports whether bytes are missing before the end of what arrived,
// and how many.
func (s *Stream) Gaps() (bool, int) {
	if len(s.spans) == 0 {
		return false, 0
	}
	missing := s.spans[0].start
	for i := 1; i < len(s.spans); i++ {
		missing += s.spans[i].start - s.spans[i-1].end
	}
	return missing > 0, missing
}

// Footprint is the memory the stream holds, in bytes.
func (s *Stream) Footprint() int { return cap(s.data) + 16*cap(s.spans) }

// Len returns how far the stream reaches (including gaps).
func (s *Stream) Len() int { return s.end() }
