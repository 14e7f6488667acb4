package reassembly

import "math"

const (
	noOff  = math.MaxInt64
	maxOff = 1 << 62 // skips stop here: offsets never overflow
)

// Stream reassembles one direction of a TCP connection. The zero value
// is usable (with default limits and its own Stats); Init sets limits,
// shared Stats and a Budget, and makes a used Stream new again.
type Stream struct {
	pieces []piece // held out-of-order bytes from head on: sorted, disjoint
	head   int
	held   int   // bytes in pieces
	mem    int64 // memory the pieces and the history take (Budget)
	next   int64 // offset of the delivery point
	finOff int64 // offset the stream ends at, once fin
	// finStart is where the data of the segment that carried the FIN
	// began: while that segment waits out of order, Linux may drop it,
	// FIN and all, for one that covers it (linuxDropsFIN).
	finStart int64

	hist    *[histN]histRec // the last deliveries, for conflicts
	histPos int
	urgent  []int64 // offsets of urgent bytes to leave out, sorted
	// urgentDone is the urgent bytes left out so far: the consumer's
	// offsets trail the stream's by this much.
	urgentDone int64

	// The last range skipped and the last declared a gap, to tell why a
	// late segment is behind the delivery point.
	skipLo, skipHi int64
	gapLo, gapHi   int64

	base                          uint32 // sequence number of offset 0
	inited, started, fin, flushed bool

	maxBuf, maxSegs int
	window          int64
	policy          Policy
	stats           *Stats
	budget          *Budget
}

// Init (re)starts s with the limits of cfg (nil: defaults), counting into
// stats (nil: a Stats of its own) and holding out-of-order bytes against
// budget (nil: none). Bytes s held are freed without delivery.
func (s *Stream) Init(cfg *Config, stats *Stats, budget *Budget) {
	s.release()
	*s = Stream{pieces: s.pieces[:0], inited: true,
		maxBuf: DefaultMaxBuffered, maxSegs: DefaultMaxSegments, window: MaxWindow,
		stats: stats, budget: budget}
	if cfg != nil {
		if cfg.MaxBuffered > 0 {
			s.maxBuf = cfg.MaxBuffered
		}
		if cfg.MaxSegments > 0 {
			s.maxSegs = cfg.MaxSegments
		}
		if cfg.Window > 0 && cfg.Window < MaxWindow {
			s.window = cfg.Window
		}
		s.policy = cfg.Policy
	}
	if s.stats == nil {
		s.stats = new(Stats)
	}
}

// Reset forgets the stream and frees what it held, keeping the limits,
// Stats and Budget of Init, so that s can follow a new connection.
func (s *Stream) Reset() {
	if !s.inited {
		return
	}
	s.release()
	*s = Stream{pieces: s.pieces[:0], inited: true, maxBuf: s.maxBuf, maxSegs: s.maxSegs,
		window: s.window, policy: s.policy, stats: s.stats, budget: s.budget}
}

// Stats is where s counts.
func (s *Stream) Stats() *Stats {
	s.init()
	return s.stats
}

func (s *Stream) init() {
	if !s.inited {
		s.Init(nil, nil, nil)
	}
}

// Buffered is the out-of-order bytes s holds.
func (s *Stream) Buffered() int { return s.held }

// Urgents is the urgent bytes left out of what the consumer got so far.
func (s *Stream) Urgents() int64 { return s.urgentDone }

// Memory is what s holds, as the Budget counts it.
func (s *Stream) Memory() int64 { return s.mem }

// Delivered is the stream offset of the delivery point: the bytes
// delivered, declared gaps and skipped so far.
func (s *Stream) Delivered() int64 { return s.next }

// NextSeq is the sequence number of the delivery point (meaningless
// before the first segment).
func (s *Stream) NextSeq() uint32 { return s.base + uint32(s.next) }

// Started reports that a segment fixed the stream's start (NextSeq is
// meaningful).
func (s *Stream) Started() bool { return s.started }

// Start fixes the stream's first sequence number at seq, if no segment
// has yet.
func (s *Stream) Start(seq uint32) {
	s.init()
	if !s.started && !s.flushed {
		s.started, s.base = true, seq
	}
}

// Finished reports that the FIN was reached: every byte before it was
// delivered, declared a gap or skipped.
func (s *Stream) Finished() bool { return s.fin && s.next >= s.finOff }

// Segment adds one segment of this direction and delivers to c what
// became in order. syn: the segment carries SYN, so seq is the ISN and
// data starts at seq+1 (TCP Fast Open data is delivered). fin: the
// stream ends after this segment's data. payload may be cut (snaplen):
// the bytes after it are then a hole like any other. payload is not kept.
func (s *Stream) Segment(seq uint32, syn, fin bool, payload []byte, c Consumer) {
	if c == nil {
		c = discard{}
	}
	// The common case: the next bytes, nothing held.
	if s.started && !s.flushed && !syn && !s.fin && !fin && len(payload) > 0 &&
		seq == s.base+uint32(s.next) && s.head == len(s.pieces) {
		s.stats.Segments++
		s.emit(payload, c)
		return
	}
	s.init()
	if s.flushed {
		if len(payload) > 0 {
			s.stats.OldSegments++
		}
		return
	}
	if syn {
		seq++ // the SYN takes one sequence number
	}
	if !s.started {
		if len(payload) == 0 && !syn && !fin {
			return // a bare ACK's seq is not reliable (keep-alives)
		}
		s.started, s.base = true, seq
	}
	if len(payload) > 0 {
		s.stats.Segments++
	}
	d := int64(int32(seq - s.NextSeq()))
	if d > s.window {
		s.stats.BeyondWindow++
		return
	}
	off := s.next + d
	end := off + int64(len(payload))
	// Overlaps among out-of-order segments are settled on the segment as
	// sent, its end counting the FIN (Linux's end_seq), whatever of it is
	// cut below.
	endSeq := end
	if fin {
		endSeq++
	}
	if s.fin && s.policy == PolicyLinux && s.finOff > s.next && s.linuxDropsFIN(off, endSeq) {
		s.fin = false
		s.stats.FINReplaced++
	}
	if fin {
		s.setFIN(off, end)
	}
	if s.fin && end > s.finOff {
		cut := end - max(off, s.finOff)
		s.stats.AfterFIN += uint64(cut)
		end -= cut
		payload = payload[:end-off]
	}
	if len(payload) == 0 {
		return
	}
	segStart, segEnd := off, endSeq
	if off < s.next {
		s.behind(off, min(end, s.next), end <= s.next)
		s.conflicts(off, payload[:min(end, s.next)-off], c)
		if end <= s.next {
			return
		}
		payload = payload[s.next-off:]
		off = s.next
	}
	if s.hasHeld() && (off > s.next || s.policy == PolicyFirst) {
		s.compare(off, payload)
	}
	s.add(off, payload, segStart, segEnd, c)
}

// conflicts checks bytes that came again behind the delivery point
// against what was delivered, and tells a Conflicter of a difference.
// Bytes of a skipped or gap range were never delivered: they cannot
// conflict.
func (s *Stream) conflicts(off int64, p []byte, c Consumer) {
	lo, hi := off, off+int64(len(p))
	if lo >= s.skipLo && hi <= s.skipHi || lo >= s.gapLo && hi <= s.gapHi {
		return
	}
	if !s.verify(off, p) {
		return
	}
	s.stats.DeliveredConflicts++
	if cf, ok := c.(Conflicter); ok {
		cf.Conflict(int64(len(p)))
	}
}

// Urgent leaves the byte at sequence number seq out of the stream: an
// urgent (out-of-band) byte, which a receiver without SO_OOBINLINE, the
// default, does not put in the stream. Bytes already delivered, and more
// than maxUrgent pending, are not taken out.
func (s *Stream) Urgent(seq uint32) {
	if !s.started {
		return
	}
	d := int64(int32(seq - s.NextSeq()))
	if d < 0 || d > s.window || len(s.urgent) >= maxUrgent {
		return
	}
	off := s.next + d
	i := 0
	for i < len(s.urgent) && s.urgent[i] < off {
		i++
	}
	if i < len(s.urgent) && s.urgent[i] == off {
		return
	}
	s.urgent = append(s.urgent, 0)
	copy(s.urgent[i+1:], s.urgent[i:])
	s.urgent[i] = off
}

// maxUrgent bounds the urgent bytes a stream remembers ahead of delivery.
const maxUrgent = 16

// setFIN records the end of the stream. The first FIN wins, like the
// first data; a FIN before bytes already seen is ignored (it conflicts
// with them), unless the bytes after it were only skipped or declared a
// gap (an ACK of the FIN seen before the FIN does that).
func (s *Stream) setFIN(start, end int64) {
	if s.fin {
		return
	}
	if end < s.next && !(s.skipLo <= end && end <= s.skipHi) && !(s.gapLo <= end && end <= s.gapHi) {
		return
	}
	if s.hasHeld() && s.pieces[len(s.pieces)-1].end() > end {
		return
	}
	s.fin, s.finOff, s.finStart = true, end, start
}

// linuxDropsFIN says whether a segment with data from off and Linux's
// end_seq endSeq (its end, plus one for a FIN) makes Linux drop the queued
// out-of-order segment that carries the FIN, which then never happened:
// tcp_data_queue_ofo
// replaces a queued skb by a new one with the same start and a later
// end_seq, and erases the queued skbs a new one covers up to their
// end_seq. A FIN counts in end_seq. Without this, a sender could queue
// its real data with a FIN out of order, then a longer decoy with the
// same start: the host keeps the decoy, the sensor the first copy.
func (s *Stream) linuxDropsFIN(off, endSeq int64) bool {
	finEndSeq := s.finOff + 1
	switch {
	case off == s.finStart:
		return endSeq > finEndSeq
	case off < s.finStart:
		return endSeq >= finEndSeq
	}
	return false
}

// behind counts the bytes [lo, hi) that came behind the delivery point.
func (s *Stream) behind(lo, hi int64, whole bool) {
	n := hi - lo
	sk := overlap(lo, hi, s.skipLo, s.skipHi)
	late := overlap(lo, hi, s.gapLo, s.gapHi)
	s.stats.DupBytes += uint64(n - sk - late)
	s.stats.LateBytes += uint64(late)
	if whole {
		if sk == n {
			s.stats.SkippedSegments++
		} else {
			s.stats.OldSegments++
		}
	}
}

func overlap(a0, a1, b0, b1 int64) int64 { return max(0, min(a1, b1)-max(a0, b0)) }

type discard struct{}

func (discard) Data([]byte) int64 { return 0 }
func (discard) Gap(int64)         {}
